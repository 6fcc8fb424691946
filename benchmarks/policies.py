"""What policies add to a plan: the converged plan of N users (benchmarks/generate.py) on the
`local` LMS, without policies and with five resource policies judging every user, run in
turn so that both see the machine at the same speed.

    python benchmarks/policies.py 100000 --runs 5

Prints each plan's median wall time and peak memory, and the median of the differences
taken pair by pair.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import applied_org, measure

# Five policies of the kinds docs/policies.md shows, each judging all N users; every user
# complies, so the plan is the converged plan with the policies' whole cost added
POLICIES = """\
policies:
  - name: admins-in-it
    kinds: [user]
    expression: "!has(resource.role) || resource.role != 'admin' ||
      resource.department.startsWith('Global/IT/')"
  - name: company-addresses
    kinds: [user]
    expression: "resource.email.endsWith('@bench.example')"
  - name: few-groups
    kinds: [user]
    expression: "!has(resource.groups) || size(resource.groups) <= 20"
  - name: named
    kinds: [user]
    expression: "has(resource.first_name) && has(resource.last_name)"
    enforcement: advisory
  - name: active
    kinds: [user]
    expression: "!has(resource.active) || resource.active"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", type=int, nargs="?", default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        org = Path(tmp) / "org"
        applied_org(org, args.users)
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "judged": []}
        for _ in range(args.runs):  # the same LMS and state, with and without the policies
            for name in runs:
                if name == "judged":
                    (org / "policies.yaml").write_text(POLICIES)
                runs[name].append(measure(["plan", "--detailed-exitcode", "-C", str(org)],
                                          dict(os.environ)))
                (org / "policies.yaml").unlink(missing_ok=True)
    for name, found in runs.items():
        print(f"{name}: median {statistics.median(r['seconds'] for r in found):.2f} s, "
              f"peak {max(r['peak_mb'] for r in found):.0f} MB")
    added = [j["seconds"] - p["seconds"] for p, j in zip(runs["plain"], runs["judged"],
                                                         strict=True)]
    print(f"five policies added a median {statistics.median(added):.2f} s "
          f"(from {min(added):.2f} to {max(added):.2f} s) over {args.users:,} users")


if __name__ == "__main__":
    main()
