"""The load report: summary, per-second series, JSON + Markdown + PNG (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from engine.tools.loadtest.procstat import Sample
from engine.tools.loadtest.records import INVITE_PARTS, CallRecord


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def _spread(values: list[float]) -> dict[str, float | None]:
    return {f"p{p}_ms": _ms(percentile(values, p)) for p in (50, 90, 99)} | {
        "max_ms": _ms(max(values) if values else None)
    }


def rtp_summary(answered: list[CallRecord]) -> dict[str, Any]:
    """Audio of the answered calls, as the engine's workers counted it (in-process runs)."""
    counted = [r.rtp for r in answered if r.rtp.get("rtp_packets_sent") is not None]

    def total(key: str) -> int:
        return sum(int(rtp.get(key) or 0) for rtp in counted)

    received = total("rtp_packets_received")
    return {
        "calls_counted": len(counted),
        "packets_sent": total("rtp_packets_sent"),
        "packets_received": received,
        "packets_lost": total("rtp_packets_lost"),
        "loss_ratio": round(total("rtp_packets_lost") / received, 6) if received else None,
        "calls_without_audio_both_ways": sum(
            1
            for rtp in counted
            if not rtp.get("rtp_packets_sent") or not rtp.get("rtp_packets_received")
        ),
    }


def summarise(
    records: list[CallRecord],
    origin: float,
    rate: float,
    samples: list[Sample] | None = None,
) -> dict[str, Any]:
    invites = sorted(r.invite_at for r in records if r.invite_at is not None)
    answered = [r for r in records if r.answered_at is not None]
    causes = Counter(r.cause for r in records if r.failed)
    unfinished = [r for r in records if not r.final]
    span = (invites[-1] - invites[0]) if len(invites) > 1 else 0.0
    durations = [
        r.talk_seconds if r.talk_seconds is not None else r.ended_at - r.answered_at  # type: ignore[operator]
        for r in answered
        if r.ended_at is not None
    ]
    summary: dict[str, Any] = {
        "offered_calls": len(records),
        "target_rate": rate,
        "requests_sent": sum(1 for r in records if r.sent is not None),
        "accepted": sum(1 for r in records if r.session_id is not None),
        "invites": len(invites),
        "answered": len(answered),
        "completed": sum(1 for r in records if r.outcome == "completed"),
        "failed": sum(causes.values()),
        "unfinished": len(unfinished),
        "failures_by_cause": dict(causes.most_common()),
        "achieved_rate": round((len(invites) - 1) / span, 2) if span > 0 else None,
        "late_sends_over_10ms": sum(
            1 for r in records if r.sent is not None and r.sent - r.scheduled > 0.010
        ),
        "http_latency": _spread([r.responded - r.sent for r in records if r.responded and r.sent]),
        "api_to_invite": _spread([r.api_to_invite for r in records if r.api_to_invite is not None]),
        "api_to_invite_parts": {
            part: _spread([v for r in records if (v := r.invite_parts.get(part)) is not None])
            for part in INVITE_PARTS
        },
        "client_to_invite": _spread([v for r in records if (v := r.client_to_invite) is not None]),
        "setup_latency": _spread([v for r in records if (v := r.setup_latency) is not None]),
        "answered_seconds_mean": round(sum(durations) / len(durations), 3) if durations else None,
        "rtp": rtp_summary(answered),
        "peak_active_calls": max((s["active"] for s in timeseries(records, origin)), default=0),
    }
    if samples:
        steady = samples[len(samples) // 5 :] or samples
        names = sorted({name for s in samples for name in s.groups})
        summary["resources"] = {
            name: {
                "cores_mean": round(sum(s.groups[name][0] for s in steady) / len(steady), 3),
                "rss_mb_first": round(samples[0].groups[name][1] / 2**20, 1),
                "rss_mb_max": round(max(s.groups[name][1] for s in samples) / 2**20, 1),
                "rss_mb_last": round(samples[-1].groups[name][1] / 2**20, 1),
            }
            for name in names
        }
        summary["machine_cores_mean"] = round(sum(s.machine_cores for s in steady) / len(steady), 3)
        summary["machine_steal_cores_mean"] = round(
            sum(s.machine_steal_cores for s in steady) / len(steady), 3
        )
    return summary


def timeseries(records: list[CallRecord], origin: float) -> list[dict[str, Any]]:
    """One row per second from the first request to the last end."""
    moments = [
        t
        for r in records
        for t in (r.scheduled, r.invite_at, r.answered_at, r.ended_at, r.responded)
        if t is not None
    ]
    if not moments:
        return []
    seconds = math.ceil(max(moments) - origin) + 1
    rows: list[dict[str, Any]] = [
        {"t": s, "offered": 0, "achieved": 0, "active": 0, "failed": 0, "setup": []}
        for s in range(seconds)
    ]

    def row(moment: float) -> dict[str, Any]:
        return rows[min(seconds - 1, max(0, int(moment - origin)))]

    for r in records:
        row(r.scheduled)["offered"] += 1
        if r.invite_at is not None:
            row(r.invite_at)["achieved"] += 1
        if (latency := r.setup_latency) is not None and r.answered_at is not None:
            row(r.answered_at)["setup"].append(latency)
        if r.failed:
            row(r.ended_at or r.responded or r.scheduled)["failed"] += 1
        if r.answered_at is not None:
            # Instantaneous: answered at or before the second's start, not yet ended.
            first = math.ceil(r.answered_at - origin)
            end = r.ended_at if r.ended_at is not None else origin + seconds
            for s in range(max(0, first), min(seconds, math.ceil(end - origin))):
                rows[s]["active"] += 1
    for item in rows:
        setup = item.pop("setup")
        for p in (50, 90, 99):
            item[f"setup_p{p}_ms"] = _ms(percentile(setup, p))
    return rows


def write_report(
    out_dir: Path,
    records: list[CallRecord],
    origin: float,
    rate: float,
    *,
    samples: list[Sample] | None = None,
    meta: dict[str, Any] | None = None,
    far_end_udp_drops: dict[str, Any] | None = None,
    events: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`far_end_udp_drops`: what the kernel dropped on the callee's sockets during the run
    (`engine.tools.sipp.socket_drops`), when the callee ran on this machine. `events`: what the
    in-process engine emitted and its broker acknowledged, when it published to one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(records, origin, rate, samples)
    if far_end_udp_drops is not None:
        summary["far_end_udp_drops"] = far_end_udp_drops
    if events is not None:
        summary["events"] = events
    series = timeseries(records, origin)
    resources = [
        {
            "t": round(s.at - origin, 3),
            "machine_cores": round(s.machine_cores, 3),
            "machine_steal_cores": round(s.machine_steal_cores, 3),
            **{
                f"{name}_{what}": round(value, 3)
                for name, (cores, rss) in s.groups.items()
                for what, value in (("cores", cores), ("rss_mb", rss / 2**20))
            },
        }
        for s in samples or []
    ]
    document = {
        "meta": meta or {},
        "summary": summary,
        "per_second": series,
        "resources": resources,
        "calls": [r.as_dict(origin) for r in records],
    }
    (out_dir / "report.json").write_text(json.dumps(document, indent=1))
    (out_dir / "report.md").write_text(markdown(summary, meta or {}))
    plot(out_dir / "report.png", series, summary)
    return summary


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = ["# Load test report", ""]
    for key, value in meta.items():
        lines.append(f"- {key}: {value}")
    lines += ["", "| measure | value |", "|---|---|"]
    for key, value in summary.items():
        if isinstance(value, dict) and key not in ("failures_by_cause", "resources"):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif key in ("failures_by_cause", "resources"):
            continue
        lines.append(f"| {key} | {value} |")
    lines += ["", "## Failures by cause", ""]
    causes = summary.get("failures_by_cause") or {}
    lines += [f"- {cause}: {count}" for cause, count in causes.items()] or ["none"]
    if summary.get("resources"):
        lines += ["", "## Resources (mean after the first fifth of the run)", ""]
        lines += ["| process group | cores | RSS first MB | RSS max MB | RSS last MB |"]
        lines += ["|---|---|---|---|---|"]
        for name, r in summary["resources"].items():
            lines.append(
                f"| {name} | {r['cores_mean']} | {r['rss_mb_first']} | {r['rss_mb_max']}"
                f" | {r['rss_mb_last']} |"
            )
    return "\n".join(lines) + "\n"


def plot(path: Path, series: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row["t"] for row in series]
    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=False)
    axes[0].plot(t, [row["offered"] for row in series], label="offered (requests/s)")
    axes[0].plot(t, [row["achieved"] for row in series], label="achieved (INVITEs/s)")
    axes[0].set_ylabel("calls per second")
    axes[0].legend()
    axes[1].plot(t, [row["active"] for row in series], color="tab:green")
    axes[1].set_ylabel("active (answered) calls")
    for p, style in ((50, "-"), (90, "--"), (99, ":")):
        values = [row[f"setup_p{p}_ms"] for row in series]
        axes[2].plot(t, [math.nan if v is None else v for v in values], style, label=f"p{p}")
    axes[2].set_ylabel("setup latency ms\n(request -> answer)")
    axes[2].legend()
    axes[2].set_xlabel("seconds since start")
    causes = summary.get("failures_by_cause") or {}
    if causes:
        names = list(causes)[:8]
        axes[3].barh([n[:60] for n in names], [causes[n] for n in names], color="tab:red")
    else:
        axes[3].text(0.5, 0.5, "no failures", ha="center", va="center")
        axes[3].set_yticks([])
    axes[3].set_title("failures by cause")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
