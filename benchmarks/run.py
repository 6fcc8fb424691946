"""Benchmark plan and apply on the embedded `local` LMS.

For each size N: generate an organisation of N users, apply it to an empty LMS, then plan the
converged organisation (the best time of three plans, and the highest peak). Each
measurement is a fresh process: its wall time and peak memory (max RSS).
lmsform keeps no cache of parsed manifests, so every plan is the first plan after an edit, as
in CI.

Shared machines change speed from minute to minute; the last line says how long a fixed loop
of Python took around the measurements, so that figures from two runs can be compared.

Each figure is the whole process a user waits for: `python -m lmsform ...` from its start to
its end, the interpreter's start, the imports and the exit included (`run_process`).

    python benchmarks/run.py 1000 10000 50000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate


def measure(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """`lmsform ARGS` as a process of its own, as a user runs it: its seconds from start to
    end (interpreter, imports and exit included) and its peak memory (max RSS), read from
    the operating system's account of that one process. Raises where the command did not
    exit 0 (a converged plan with --detailed-exitcode that finds changes included): a failed
    command is not a measurement."""
    return run_process([sys.executable, "-m", "lmsform", *args], env)[0]


def run_process(command: list[str], env: dict[str, str]) -> tuple[dict[str, float], str]:
    """A process's seconds and peak MB, and what it wrote to standard error."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        said = errors.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {said[-2000:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}, said


PLANS = 3  # a plan changes nothing, so it is measured several times and the best kept


def applied_org(directory: Path, users: int) -> dict[str, float]:
    """An organisation of N users generated in `directory` and applied to its empty `local`
    LMS: what the apply measured."""
    generate(directory, users)
    return measure(["apply", "--auto-approve", "-C", str(directory)], dict(os.environ))


def bench(users: int, work: Path) -> dict[str, dict[str, float]]:
    directory = work / f"org-{users}"
    results = {"apply": applied_org(directory, users)}
    plans = [measure(["plan", "--detailed-exitcode", "-C", str(directory)], dict(os.environ))
             for _ in range(PLANS)]
    results["plan"] = {"seconds": min(r["seconds"] for r in plans),
                       "peak_mb": max(r["peak_mb"] for r in plans)}
    return results


def calibration() -> float:
    """Seconds a fixed loop of Python takes now (the best of three)."""
    def once() -> float:
        start = time.perf_counter()
        sum(i * i for i in range(10**7))
        return time.perf_counter() - start

    return min(once() for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 50000])
    args = parser.parse_args()
    print("| users | apply from empty | plan, converged | peak memory (plan / apply) |")
    print("|---:|---:|---:|---:|")
    loops = [calibration()]
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.sizes:
            r = bench(users, Path(tmp))
            print(f"| {users:,} | {r['apply']['seconds']:.1f} s | {r['plan']['seconds']:.2f} s "
                  f"| {r['plan']['peak_mb']:.0f} MB / {r['apply']['peak_mb']:.0f} MB |",
                  flush=True)
            loops.append(calibration())
    print(f"\nA fixed loop of Python took {min(loops):.2f} to {max(loops):.2f} s "
          "between the measurements.")


if __name__ == "__main__":
    main()
