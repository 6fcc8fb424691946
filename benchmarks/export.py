"""Benchmark `lmsform export`: the local LMS, and the iLMS simulator with 20 ms latency.

For each run: build an LMS of N users by applying a generated organisation, then export it to
a new directory and plan there (which must show no changes). Reports the export's wall time
and, on the simulator, the requests it served.

    python benchmarks/export.py local 10000
    python benchmarks/export.py ilms 5000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate
from vendor import PARALLELISM, simulator, stats, write_ilms


def lmsform(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lmsform", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def export_and_check(source: Path, out: Path) -> float:
    seconds = lmsform("export", "-C", str(source), "--out", str(out))
    lmsform("plan", "--detailed-exitcode", "-C", str(out))  # exit 2 (changes) fails here
    return seconds


def bench_local(users: int, work: Path) -> tuple[float, int | None]:
    source = work / "source"
    generate(source, users)
    lmsform("apply", "--auto-approve", "-C", str(source))
    return export_and_check(source, work / "exported"), None


def bench_ilms(users: int, work: Path) -> tuple[float, int | None]:
    with simulator("ilms") as port:
        source = work / "source"
        write_ilms(source, users, port)
        lmsform("apply", "--auto-approve", "--parallelism", str(PARALLELISM), "-C", str(source))
        before = stats(port)
        seconds = lmsform("export", "-C", str(source), "--out", str(work / "exported"))
        requests = stats(port) - before
        lmsform("plan", "--detailed-exitcode", "-C", str(work / "exported"))
        return seconds, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lms", choices=["local", "ilms"])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    args = parser.parse_args()
    print("| LMS | users | export | requests |")
    print("|---|---:|---:|---:|")
    for users in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = bench_local if args.lms == "local" else bench_ilms
            seconds, requests = run(users, Path(tmp))
        shown = f"{requests:,}" if requests is not None else "none (a file)"
        print(f"| {args.lms} | {users:,} | {seconds:.1f} s | {shown} |", flush=True)


if __name__ == "__main__":
    main()
