#!/usr/bin/env python3
"""Profiles for the benchmarks: where a decision's time goes, to compare before and after a change.

- `bench_profile.py placement [--runs N] [--top N]`: cProfile over the busy-cluster placement row of
  bench_placement.py (a 512-pod gang on 4,096 nodes, 35 % busy), top entries by own and by cumulative time.
- `bench_profile.py summarize FILE [--top N]`: the top entries of a py-spy raw (collapsed stacks) file, as
  `bench_load.py --profile FILE` and `bench_side_by_side.py --profile DIR` write them for the operator process.

py-spy is not a dependency of the project: `.venv/bin/pip install py-spy` before asking a bench for a profile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hack"))


@contextmanager
def spying(pid: int, output: Path | None, rate: int = 100) -> Iterator[None]:
    """Sample process `pid` with py-spy while the block runs (nothing when `output` is None); collapsed stacks
    go to `output`."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("a profile needs py-spy: .venv/bin/pip install py-spy")
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--nolineno", "--nonblocking"]
    command += ["--rate", str(rate), "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        if not output.exists():
            raise SystemExit(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")


def summarize(path: Path, top: int = 25) -> str:
    """Own and inclusive samples per function from collapsed stacks ("a;b;c 12" per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return f"{path}: no samples"
    lines = [f"{path.name}: {total:,} samples (py-spy, active threads only)", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def profile_placement(runs: int, top: int) -> str:
    """cProfile over `runs` busy-cluster decisions (the seeds bench_placement.py uses), after one warm-up."""
    from bench_placement import LEVELS, PARAMS, big_gang, cluster

    from scheduler.solver.filters import FilterCache
    from scheduler.solver.placement import place_gang
    from scheduler.topology.tree import TopologyTree

    tree = TopologyTree(LEVELS, cluster(2, 4, 16, 32))
    cache = FilterCache(tree)
    instances = [big_gang(tree, seed) for seed in range(runs)]
    place_gang(*instances[0], PARAMS, cache)  # static filters and imports out of the way
    profiler = cProfile.Profile()
    profiler.enable()
    for capacity, gang in instances:
        place_gang(capacity, gang, PARAMS, cache)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"busy-cluster placement: {runs} decisions of a 512-pod gang on 4,096 nodes, 35 % busy (cProfile)\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    placement = sub.add_parser("placement", help="cProfile the busy-cluster placement row")
    placement.add_argument("--runs", type=int, default=20)
    placement.add_argument("--top", type=int, default=25)
    summary = sub.add_parser("summarize", help="top entries of a py-spy raw file")
    summary.add_argument("file", type=Path)
    summary.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.command == "placement":
        print(profile_placement(args.runs, args.top))
    else:
        if not args.file.exists():
            raise SystemExit(f"{args.file}: no such file")
        print(summarize(args.file, args.top))


if __name__ == "__main__":
    main()
