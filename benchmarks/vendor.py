"""Benchmark a vendor provider against its simulator with network latency.

For each size N: start `lmsform simulate VENDOR` with 20 ms latency in its own process, apply
an organisation of N users to it, then plan the converged organisation. Reports wall time and
the requests the simulator served, next to the sequential lower bound (requests x latency):
what the same work would take one request at a time.

    python benchmarks/vendor.py ilms 1000 5000
    python benchmarks/vendor.py ilms-limited 500        (a server allowing 50 requests a second)
    python benchmarks/vendor.py braincert 1000
    python benchmarks/vendor.py aomlms 1000             (aomlms-per-user: without bulkUpload)
    python benchmarks/vendor.py learnworlds 1000
    python benchmarks/vendor.py coursetoolkit 1000 5000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LATENCY_MS = 20
PARALLELISM = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_ilms(directory: Path, users: int, port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    departments = [f"Department {i}" for i in range(max(1, users // 250))]
    lines = [
        "provider:", "  type: ilms", f"  base_url: http://127.0.0.1:{port}",
        "  org_id: '99999'", "  api_login_id: ${env:ILMS_API_LOGIN_ID:-sim-login}",
        "  transaction_key: ${env:ILMS_TRANSACTION_KEY:-sim-key}",
        f"  max_concurrency: {PARALLELISM}",  # no requests_per_second: the pace is learnt
        "state: {path: state.json}",
        "hierarchy:", "  - region: Bench", "    divisions:", "      - division: All",
        f"        departments: [{', '.join(departments)}]",
        "courses:",
        "  - {key: security, title: Security Awareness}",
        "  - {key: privacy, title: Data Privacy Basics}",
        "groups:", "  - {name: Managers}", "  - {name: Sales Team}",
        "users:",
    ]
    groups, courses = ["Managers", "Sales Team"], ["security", "privacy"]
    for i in range(users):
        lines += [
            f"  - email: user{i}@bench.example", f"    first_name: First{i}",
            f"    last_name: Last{i}",
            f"    department: Bench/All/{departments[i % len(departments)]}",
            f"    groups: [{groups[i % 2]}]", f"    enrollments: [{courses[i % 2]}]",
        ]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")


def write_braincert(directory: Path, users: int, port: int) -> None:
    """A catalogue (two priced courses, a coupon) and N users in groups, enrolled."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "provider:", "  type: braincert", f"  base_url: http://127.0.0.1:{port}/api/v1",
        "  api_key: ${env:BRAINCERT_API_KEY:-sim-key}",
        "  domain_id: ${env:BRAINCERT_DOMAIN_ID:-sim-domain}", f"  max_concurrency: {PARALLELISM}",
        "state: {path: state.json}", "settings: {user_removal: delete}",
        "courses:",
        "  - {key: security, title: Security Awareness, published: true,"
        " pricing: [{plan: standard, amount: 49.00, currency: USD}]}",
        "  - {key: privacy, title: Data Privacy Basics, published: true,"
        " pricing: [{plan: standard, amount: 39.00, currency: USD}]}",
        "coupons:", "  - {code: WELCOME10, discount: {percent: 10}}",
        "groups:", "  - {name: Managers}", "  - {name: Sales Team}",
        "users:",
    ]
    groups, courses = ["Managers", "Sales Team"], ["security", "privacy"]
    for i in range(users):
        lines += [
            f"  - email: user{i}@bench.example", f"    username: user{i}",
            f"    first_name: First{i}", f"    last_name: Last{i}",
            f"    groups: [{groups[i % 2]}]", f"    enrollments: [{courses[i % 2]}]",
        ]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")


def write_aomlms(directory: Path, users: int, port: int, bulk: bool = True) -> None:
    """Two courses with categories, a coupon, and N users, each enrolled in one course."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "provider:", "  type: aomlms", f"  base_url: http://127.0.0.1:{port}",
        "  token: ${env:AOMLMS_TOKEN:-sim-token}", f"  max_concurrency: {PARALLELISM}",
        f"  bulk_upload: {'true' if bulk else 'false'}",
        "state: {path: state.json}",
        "courses:",
        "  - {key: security, title: Security Awareness, published: true,"
        " categories: [Compliance]}",
        "  - {key: privacy, title: Data Privacy Basics, published: true,"
        " categories: [Compliance]}",
        "coupons:", "  - {code: WELCOME10, discount: {percent: 10}}",
        "users:",
    ]
    courses = ["security", "privacy"]
    for i in range(users):
        lines += [
            f"  - email: user{i}@bench.example", f"    first_name: First{i}",
            f"    last_name: Last{i}", f"    enrollments: [{courses[i % 2]}]",
        ]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")


def write_learnworlds(directory: Path, users: int, port: int) -> None:
    """Two priced courses, two groups, a coupon, and N users in a group, enrolled, tagged.
    The simulator's documented 30 requests / 10 s limit is off and the provider's pace
    raised, to measure what concurrency and latency allow (at the documented pace, a run
    takes requests / 3 seconds)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "provider:", "  type: learnworlds", f"  base_url: http://127.0.0.1:{port}/admin/api",
        "  client_id: ${env:LEARNWORLDS_CLIENT_ID:-sim-client}",
        "  client_secret: ${env:LEARNWORLDS_CLIENT_SECRET:-sim-secret}",
        f"  max_concurrency: {PARALLELISM}", "  requests_per_second: 1000",
        "state: {path: state.json}",
        "courses:",
        "  - {key: security, title: Security Awareness, published: true,"
        " pricing: [{plan: standard, amount: 49.00, currency: USD}]}",
        "  - {key: privacy, title: Data Privacy Basics, published: true}",
        "coupons:", "  - {code: WELCOME10, discount: {percent: 10}}",
        "groups:", "  - {name: Managers}", "  - {name: Sales Team}",
        "users:",
    ]
    groups, courses = ["Managers", "Sales Team"], ["security", "privacy"]
    for i in range(users):
        lines += [
            f"  - email: user{i}@bench.example", f"    username: User {i}",
            f"    groups: [{groups[i % 2]}]", f"    enrollments: [{courses[i % 2]}]",
            "    custom: {tags: [bench]}",
        ]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")


def write_coursetoolkit(directory: Path, users: int, port: int) -> None:
    """N users: Course Toolkit manages nothing else, and reads them one get-user each."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "provider:", "  type: coursetoolkit", f"  base_url: http://127.0.0.1:{port}/api",
        "  account_id: '523098'", "  api_key: ${env:COURSETOOLKIT_API_KEY:-sim-key}",
        f"  max_concurrency: {PARALLELISM}",
        "state: {path: state.json}", "settings: {user_removal: delete}",
        "users:",
    ]
    lines += [f"  - email: user{i}@bench.example" for i in range(users)]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")


VENDORS = {"ilms": write_ilms, "braincert": write_braincert, "aomlms": write_aomlms,
           "aomlms-per-user": lambda d, u, p: write_aomlms(d, u, p, bulk=False),
           "learnworlds": write_learnworlds, "coursetoolkit": write_coursetoolkit,
           "ilms-limited": write_ilms}
# Simulator options beyond the port and the latency.
SIMULATOR_OPTIONS = {"learnworlds": ["--lw-rate-limit", "off"],
                     # a server allowing 50 requests a second: the pace lmsform learns
                     "ilms-limited": ["--rate-limit", "50"]}


def stats(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_simulator/stats") as response:
        return json.load(response)["requests"]


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lmsform", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


@contextlib.contextmanager
def simulator(vendor: str, options: list[str] | None = None) -> Iterator[int]:
    """`lmsform simulate` with 20 ms latency in a process of its own, until the block ends;
    yields its port once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lmsform", "simulate", vendor, "--port", str(port),
         "--latency-ms", str(LATENCY_MS), *(options or [])], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                stats(port)
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait()


def bench(vendor: str, users: int, work: Path) -> list[tuple[str, float, int]]:
    with simulator(vendor.split("-")[0], SIMULATOR_OPTIONS.get(vendor)) as port:
        directory = work / f"{vendor}-{users}"
        VENDORS[vendor](directory, users, port)
        env = dict(os.environ)
        results = []
        before = stats(port)
        seconds = run(["apply", "--auto-approve", "--parallelism", str(PARALLELISM),
                       "-C", str(directory)], env)
        results.append(("apply from empty", seconds, stats(port) - before))
        before = stats(port)
        seconds = run(["plan", "--detailed-exitcode", "-C", str(directory)], env)
        results.append(("plan, converged", seconds, stats(port) - before))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vendor", choices=sorted(VENDORS))
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    args = parser.parse_args()
    print("| users | run | wall time | requests | requests a second | sequential lower bound "
          "| speed-up |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.sizes:
            for name, seconds, requests in bench(args.vendor, users, Path(tmp)):
                bound = requests * LATENCY_MS / 1000
                print(f"| {users:,} | {name} | {seconds:.1f} s | {requests:,} "
                      f"| {requests / seconds:.0f} | {bound:.1f} s | {bound / seconds:.1f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
