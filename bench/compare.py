"""The controller's CPU a call, a baseline revision against the working tree, side by side.

Rounds of `bench/controller_cpu.py` alternate: base, new, base, new, ... Each round runs that
revision's own script (`--rounds 1 --no-save`) from its own checkout, the base from a git
worktree under var/bench-compare/, with PYTHONPATH at that checkout and this interpreter, so
each side starts its fake workers the way its own code expects. Prints each round's row, the
medians and the ratios new/base; `--save` writes the working tree's rows as its baseline.

    python bench/compare.py [--base REV] [--rounds 3] [--rate 100] [--seconds 30] [--save]
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402

BENCHMARK = "controller-cpu"
COMPARED = ("engine_ms_a_call", "engine_over_load_client")
"""The figures of a round that are compared between revisions: the engine's CPU a call, and
the same over the load client's, whose work a call does not depend on the engine's revision."""
CHECKOUTS = ROOT / "var" / "bench-compare"


class Side(enum.Enum):
    BASE = "base"
    NEW = "new"


@dataclass(frozen=True)
class Checkout:
    """Where one side's rounds run from."""

    side: Side
    """Which side of the comparison it is."""
    root: Path
    """The checkout's top folder: its bench/controller_cpu.py runs, its engine is imported."""
    revision: str
    """Its commit, as baseline.revision() or `git rev-parse --short` gives it."""


@dataclass(frozen=True)
class Round:
    """One round's row, as that side's controller_cpu.py printed it."""

    index: int
    """1 for the first round of each side, 2 for the second, ..."""
    side: Side
    """Which revision ran it."""
    row: dict[str, Any]
    """The row: engine_ms_a_call, engine_over_load_client, speed_probe_ms, ..."""


def schedule(rounds: int) -> list[tuple[int, Side]]:
    """The order of the rounds: base, new, base, new, ..., numbered from 1 on each side."""
    return [(index, side) for index in range(1, rounds + 1) for side in (Side.BASE, Side.NEW)]


def median_of(rows: Sequence[dict[str, Any]], key: str) -> float:
    return round(statistics.median(row[key] for row in rows), 3)


def medians(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    return {key: median_of(rows, key) for key in COMPARED}


def ratios(base: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """new / base for each compared figure: below 1 is cheaper than the base."""
    return {key: round(new[key] / base[key], 3) for key in COMPARED}


def parse_row(stdout: str) -> dict[str, Any]:
    """The last line of a round's output that is a row (a JSON object with the compared
    figures); a script may print more than its rows."""
    for line in reversed(stdout.splitlines()):
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and all(key in row for key in COMPARED):
            return row
    raise ValueError("no row in the round's output")


def round_command(checkout: Checkout, rate: float, seconds: float) -> list[str]:
    script = checkout.root / "bench" / "controller_cpu.py"
    return [
        sys.executable, str(script), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}",
        "--rounds", "1", "--no-save",
    ]  # fmt: skip


def run_round(checkout: Checkout, rate: float, seconds: float) -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": str(checkout.root)}
    done = subprocess.run(
        round_command(checkout, rate, seconds),
        cwd=checkout.root,
        env=environment,
        capture_output=True,
        text=True,
    )
    try:
        return parse_row(done.stdout)
    except ValueError:
        raise SystemExit(
            f"{checkout.side.value} ({checkout.revision}) gave no row, exit {done.returncode}:\n"
            f"{done.stderr[-3000:]}"
        ) from None


def git(*arguments: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *arguments], capture_output=True, text=True, check=True
    ).stdout.strip()


def base_checkout(revision: str) -> Checkout:
    """A worktree of `revision` under var/bench-compare/, made once and reused."""
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    short = git("rev-parse", "--short=7", commit)
    path = CHECKOUTS / short
    if not (path / ".git").exists():
        git("worktree", "prune")
        git("worktree", "add", "--detach", str(path), commit)
    elif git("rev-parse", "HEAD", cwd=path) != commit:
        git("checkout", "--detach", commit, cwd=path)
    return Checkout(Side.BASE, path, short)


def default_base(folder: Path | None = None) -> str:
    """The revision of the newest controller-cpu baseline in `folder` (bench/results/)."""
    found = baseline.latest(BENCHMARK, folder)
    if found is None:
        raise SystemExit(f"no {BENCHMARK} baseline in bench/results/: name one with --base")
    return found.revision.removesuffix("-dirty")


def describe(round_: Round, revision: str) -> str:
    row = round_.row
    return (
        f"{round_.index:>5}  {round_.side.value:<4}  {revision:<13}"
        f"  {row['engine_ms_a_call']:>9.3f}  {row['load_client_ms_a_call']:>9.3f}"
        f"  {row['engine_over_load_client']:>13.2f}  {row['speed_probe_ms']:>8.2f}"
        f"  {row['achieved_rate']:>7.2f}  {row['completed']}/{row['calls']}"
    )


HEADER = (
    "round  side  revision       engine ms  client ms  engine/client  probe ms  placed/s  completed"
)


def save(
    rows: list[dict[str, Any]], args: argparse.Namespace, base: str, ratio: dict[str, float]
) -> Path:
    from bench.controller_cpu import summarize
    from engine.tools.loadtest.runner import describe_machine

    summary = summarize(rows, args.rate, args.seconds) | {
        "compared_with": base,
        **{f"{key}_ratio_to_base": value for key, value in ratio.items()},
    }
    result = baseline.record(
        BENCHMARK,
        baseline.command_line("bench/compare.py", sys.argv[1:]),
        describe_machine(),
        rows,
        summary,
    )
    if result.revision.endswith("-dirty"):
        print("the working tree has uncommitted changes: commit them and save again", flush=True)
    return baseline.save(result, as_baseline=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the revision to compare with (default: the baseline's)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds on each side")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--save", action="store_true", help="write the working tree's rows as its baseline"
    )
    args = parser.parse_args()
    checkouts = {
        Side.BASE: base_checkout(args.base or default_base()),
        Side.NEW: Checkout(Side.NEW, ROOT, baseline.revision(ROOT)),
    }
    print(f"base {checkouts[Side.BASE].revision} ({checkouts[Side.BASE].root})")
    print(f"new  {checkouts[Side.NEW].revision} (the working tree)")
    print(f"rounds on each side: {args.rounds}, at {args.rate:g} calls/s for {args.seconds:g} s\n")
    print(HEADER, flush=True)
    rounds: list[Round] = []
    for index, side in schedule(args.rounds):
        checkout = checkouts[side]
        rounds.append(Round(index, side, run_round(checkout, args.rate, args.seconds)))
        print(describe(rounds[-1], checkout.revision), flush=True)
    rows = {side: [r.row for r in rounds if r.side is side] for side in Side}
    middle = {side: medians(rows[side]) for side in Side}
    ratio = ratios(middle[Side.BASE], middle[Side.NEW])
    print()
    for side in Side:
        figures = ", ".join(f"{key} {value:g}" for key, value in middle[side].items())
        print(f"median {side.value:<4}  {figures}")
    print("new/base     " + ", ".join(f"{key} {value:.3f}" for key, value in ratio.items()))
    if args.save:
        print(save(rows[Side.NEW], args, checkouts[Side.BASE].revision, ratio))


if __name__ == "__main__":
    main()
