"""Summarize py-spy's raw (collapsed) stacks: the hottest leaf frames and the hottest frames
anywhere on the stack (inclusive), as shares of all samples.

    python -m bench.profile var/bench/profiles/redis-1-….txt [--top 25]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarize(path: Path, top: int = 25) -> tuple[int, list, list]:
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaf[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return total, leaf.most_common(top), inclusive.most_common(top)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path", type=Path)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    total, leaf, inclusive = summarize(args.path, args.top)
    print(f"{total} samples\n\nself (leaf) frames:")
    for frame, n in leaf:
        print(f"{100 * n / total:5.1f}%  {frame}")
    print("\ninclusive frames:")
    for frame, n in inclusive:
        print(f"{100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
