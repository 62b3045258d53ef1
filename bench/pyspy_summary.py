"""Own and inclusive samples per function from `py-spy record -f raw` output.

py-spy record -p PID -d 30 -r 250 -f raw -o stacks.txt --nonblocking
python bench/pyspy_summary.py stacks.txt [--own 40] [--inclusive 100]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

FRAME = re.compile(r"(.*) \((.*):(\d+)\)")


def short(frame: str) -> str:
    """'name (path:line)' → 'name (module path)', without site-packages or the checkout."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = match.group(2).split("site-packages/")[-1].split("python3.11/")[-1]
    path = re.sub(r"^.*?/(engine|bench)/", r"\1/", path)
    return f"{match.group(1)} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--own", type=int, default=40)
    parser.add_argument("--inclusive", type=int, default=100)
    args = parser.parse_args()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.stacks.read_text().splitlines():
        if not line.strip():
            continue
        stack, count_text = line.rsplit(" ", 1)
        count = int(count_text)
        total += count
        frames = [short(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print("samples", total)
    for title, counter, limit in (("own", own, args.own), ("inclusive", inclusive, args.inclusive)):
        print(f"--- {title}")
        for frame, count in counter.most_common(limit):
            print(f"{count:6d} {100 * count / total:5.1f}% {frame}")


if __name__ == "__main__":
    main()
