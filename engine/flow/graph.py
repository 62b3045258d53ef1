"""A flow as a Mermaid flowchart: steps as nodes, next/goto/branch edges labelled."""

from __future__ import annotations

from engine.flow.model import Flow


def mermaid(flow: Flow) -> str:
    ids = {name: f"s{index}" for index, name in enumerate(flow.steps)}
    lines = ["flowchart TD", f'    start(("start")) --> {ids[flow.start]}']
    for name, step in flow.steps.items():
        lines.append(f'    {ids[name]}["{_text(name)}<br/><small>{step.type}</small>"]')
    if flow.on_hangup is not None:
        lines.append(f'    hangup(("on_hangup")) -.-> {ids[flow.on_hangup]}')
    ends = False
    for name, step in flow.steps.items():
        for edge in step.edges():
            target = ids[edge.target] if edge.target is not None else "finish"
            ends = ends or edge.target is None
            label = "" if edge.label == "next" else f"|{_text(edge.label)}|"
            lines.append(f"    {ids[name]} -->{label} {target}")
        if step.type == "hangup":
            lines.append(f"    {ids[name]} --> finish")
            ends = True
    if ends:
        lines.append('    finish(("end"))')
    return "\n".join(lines) + "\n"


def _text(text: str) -> str:
    """Mermaid labels may not hold quotes, pipes or brackets unescaped."""
    for raw, escaped in (('"', "#quot;"), ("|", "#124;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, escaped)
    return text
