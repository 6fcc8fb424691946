"""The floor of a plan: the time it takes merely to read its inputs, against which a plan's
time is judged (the performance issue's target: a converged 100k plan within 1.5 times the
floor, an apply from empty within 3.5).

The floor reads the same manifests with the fastest parser there is (rapidyaml, emitted as
JSON and loaded by the standard library, a large file in pieces as lmsform reads it, so
that rapidyaml's tree never holds a whole file), loads the state file with the standard
library, and reads every table of the `local` LMS's SQLite file, row by row, as SQLite hands
them out; each input is let go before the next is read. Nothing is validated, matched,
turned into attributes or compared.

    python benchmarks/floor.py 100000 --pairs 5

generates an organisation of N users (benchmarks/generate.py), applies it, then runs the
converged plan and the floor in turn, each in a fresh process, and prints both medians and
the median of their ratios taken pair by pair; then as many applies from empty (the same
manifests, a new LMS and state each time), each paired with a floor. It also prints the
state file's size per user.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import applied_org, measure, run_process


def read_inputs(directory: Path) -> dict[str, float]:
    """Read the three inputs of a plan of `directory`, one after the other; seconds each."""
    from lmsform.yamlfile import _fast_load

    spent: dict[str, float] = {}
    start = time.perf_counter()
    for path in sorted(directory.glob("*.yaml")):
        document = _fast_load(path.read_bytes())
        assert document is not None, f"{path.name} is not read by rapidyaml"
        del document
    spent["manifests"] = time.perf_counter() - start
    gc.collect()

    start = time.perf_counter()
    state = json.loads((directory / "state.json").read_bytes())
    del state
    spent["state"] = time.perf_counter() - start
    gc.collect()

    start = time.perf_counter()
    with sqlite3.connect(directory / "bench.sqlite") as lms:
        tables = [row[0] for row in lms.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows = lms.execute(f'SELECT * FROM "{table}"').fetchall()
            del rows
    spent["lms"] = time.perf_counter() - start
    return spent


def measure_floor_here(directory: Path) -> None:
    """The floor in this process, with lmsform's imports in its time as a plan has them;
    prints each input's seconds as JSON (the process's own time and memory are measured
    from outside, as a plan's are: `run.run_process`)."""
    print(json.dumps(read_inputs(directory)), file=sys.stderr)


def measure_floor(directory: Path) -> dict[str, float]:
    measured, said = run_process([sys.executable, __file__, "--floor", str(directory)],
                                 dict(os.environ))
    return {**measured, **json.loads(said.strip().splitlines()[-1])}


def pairs(run: Callable[[], dict[str, float]], org: Path, count: int
          ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """`count` runs of a command, each followed by the floor: (runs, floors)."""
    runs, floors = [], []
    for _ in range(count):
        runs.append(run())
        floors.append(measure_floor(org))
    return runs, floors


def summary(what: str, runs: list[dict[str, float]], floors: list[dict[str, float]]) -> str:
    ratios = [r["seconds"] / f["seconds"] for r, f in zip(runs, floors, strict=True)]
    return (f"{what} {statistics.median(r['seconds'] for r in runs):.2f} s "
            f"(peak {max(r['peak_mb'] for r in runs):.0f} MB), "
            f"floor {statistics.median(f['seconds'] for f in floors):.2f} s; "
            f"{what} / floor, median of {len(runs)} pairs: {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f} to {max(ratios):.2f})")


def fresh_apply(org: Path, directory: Path) -> dict[str, float]:
    """An apply from empty of `org`'s manifests in `directory` (a new LMS and state)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for manifest in org.glob("*.yaml"):
        shutil.copy(manifest, directory)
    return measure(["apply", "--auto-approve", "-C", str(directory)], dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", type=int, nargs="?", default=100_000)
    parser.add_argument("--pairs", type=int, default=5, help="plans, each with a floor")
    parser.add_argument("--applies", type=int, default=3, help="applies, each with a floor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        org = Path(tmp) / "org"
        applied_org(org, args.users)
        plans, floors = pairs(lambda: measure(["plan", "--detailed-exitcode", "-C", str(org)],
                                              dict(os.environ)), org, args.pairs)
        parts = ", ".join(f"{name} {statistics.median(f[name] for f in floors):.2f} s"
                          for name in ("manifests", "state", "lms"))
        print(f"{args.users:,} users: {summary('converged plan', plans, floors)}; "
              f"the floor's parts: {parts}")
        state_bytes = (org / "state.json").stat().st_size
        print(f"state: {state_bytes / 1e6:.1f} MB, {state_bytes / args.users:.0f} bytes per user")
        if args.applies:
            applies, floors = pairs(lambda: fresh_apply(org, Path(tmp) / "fresh"), org,
                                    args.applies)
            print(f"{args.users:,} users: {summary('apply from empty', applies, floors)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        measure_floor_here(Path(sys.argv[2]))
    else:
        main()
