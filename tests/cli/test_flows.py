"""`voice-engine flows ...` through engine.cli.main."""

import json
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
BAD = ROOT / "tests" / "flow" / "data" / "bad"


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "validate", str(FLOWS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"{FLOWS / 'greeting.yaml'}: OK (4 steps)" in out
    assert all(line.endswith("steps)") for line in out)


def test_validate_reports_every_problem_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        str(BAD / "unreachable.yaml"),
        str(BAD / "wrong-type.yaml"),
        str(FLOWS / "greeting.yaml"),
    ]
    assert main(["flows", "validate", *files]) == 1
    out = capsys.readouterr().out
    assert "unreachable.yaml:8:3: step 'orphan' is unreachable" in out
    assert "wrong-type.yaml:7:14: seconds:" in out
    assert "greeting.yaml: OK" in out


def test_validate_defaults_to_the_configured_flows_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "x.yaml").write_text("name: x\nstart: a\nsteps:\n  a: {type: hangup}\n")
    # An unreadable config falls back to ./flows.
    assert main(["--config", str(tmp_path / "missing.yaml"), "flows", "validate"]) == 0
    assert "flows/x.yaml: OK (1 steps)" in capsys.readouterr().out


def test_simulate_greeting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "simulate", str(FLOWS / "greeting.yaml")]) == 0
    out = capsys.readouterr().out
    assert "caller hears: Hello from voice engine. This is a test call." in out
    assert "flow finished: completed" in out


def test_simulate_by_id_with_digits_and_webhook(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flows", "simulate", "appointment-reminder", "--digits", "2"]
    assert main([*argv, "--webhook-response", '{"ok": true}']) == 0
    out = capsys.readouterr().out
    assert "caller presses 2" in out
    assert "[decide] -> ok (digits equals 2)" in out
    assert "engine calls webhook POST http://127.0.0.1:8099/appointments" in out


def test_simulate_hangup_and_webhook_failure(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flows", "simulate", "appointment-reminder", "--hangup-at", "2", "--webhook-fail"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "caller hangs up" in out
    assert "[on_hangup[1]] -> failed (simulated failure)" in out
    assert "flow finished: hangup" in out
    assert "engine hangs up" not in out


def test_simulate_digit_at_silence_and_recording(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flows", "simulate", "survey", "--digit-at", "1:4", "--silence"]
    assert main([*argv, "--recording-seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert "caller presses 4" in out and "[q1] -> ok (4)" in out
    assert "[q2] -> no_input" in out
    assert "engine records survey-comment.wav after a beep" in out


def test_simulate_transfer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "simulate", "press-0-agent", "--digits", "0"]) == 0
    assert "transfers the call to sip:agent@127.0.0.1:5070" in capsys.readouterr().out


def test_simulate_unknown_flow_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "simulate", "no-such-flow"]) == 2
    assert "no flow file 'no-such-flow'" in capsys.readouterr().err


def test_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "graph", str(FLOWS / "appointment-reminder.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert '["decide<br/><small>branch</small>"]' in out
    assert "-->|digits equals 1|" in out
    assert "-->|no_input|" in out
    assert 'hangup(("on_hangup")) -.->' in out


def test_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "flow.schema.json"
    assert main(["flows", "schema", "-o", str(target)]) == 0
    schema = json.loads(target.read_text())
    assert schema["additionalProperties"] is False
    assert {"SayStep", "GatherStep", "WebhookStep"} <= set(schema["$defs"])
    assert main(["flows", "schema"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["title"] == "voice-engine flow"


def test_simulate_options_reach_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flows", "simulate", "press-0-agent", "--digits", "0", "--transfer-refused"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "transfers the call to" in out and "-> failed" in out
    assert main(["flows", "simulate", "survey", "--silence", "--max-seconds", "1"]) == 1
    out = capsys.readouterr().out
    assert "simulation stopped at 1 s" in out and "stuck" not in out
