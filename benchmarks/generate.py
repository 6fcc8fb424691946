"""Generate a synthetic organisation of N users for benchmarks.

Proportions: 5 regions x 4 divisions x N/250 departments, N/100 groups, N/200 courses
(each with two pricing plans), N/500 coupons. Users belong to 2 groups and take 2 courses.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def generate(directory: Path, users: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    regions = [f"Region {r}" for r in range(5)]
    divisions = [f"Division {d}" for d in range(4)]
    per_division = max(1, users // 250 // (len(regions) * len(divisions)) or 1)
    departments = [
        f"{r}/{d}/Department {p}" for r in regions for d in divisions for p in range(per_division)
    ]
    groups = [f"Group {g}" for g in range(max(2, users // 100))]
    courses = [f"course-{c}" for c in range(max(2, users // 200))]
    coupons = [f"CODE{c}" for c in range(max(1, users // 500))]

    (directory / "lmsform.yaml").write_text(
        "version: 1\nprovider:\n  type: local\n  path: bench.sqlite\n"
        "state:\n  path: state.json\nsettings:\n  max_delete_fraction: 0.5\n"
    )
    lines = ["hierarchy:"]
    for r in regions:
        lines += [f"  - region: {r}", "    divisions:"]
        for d in divisions:
            names = [x.rsplit("/", 1)[1] for x in departments if x.startswith(f"{r}/{d}/")]
            lines += [f"      - division: {d}", f"        departments: [{', '.join(names)}]"]
    lines.append("courses:")
    for i, key in enumerate(courses):
        lines += [
            f"  - key: {key}", f"    title: Course {i}", "    published: true",
            f"    credits: {i % 5}", "    categories: [Benchmark]", "    pricing:",
            f"      - {{plan: standard, amount: {10 + i % 90}.00, currency: USD}}",
            f"      - {{plan: yearly, amount: {100 + i % 900}.00, currency: EUR, billing: yearly}}",
        ]
    lines.append("groups:")
    for i, name in enumerate(groups):
        lines += [f"  - name: {name}", f"    description: Benchmark group {i}",
                  f"    courses: [{courses[i % len(courses)]}]"]
    lines.append("coupons:")
    for i, code in enumerate(coupons):
        lines += [f"  - code: {code}", f"    discount: {{percent: {5 + i % 50}}}",
                  f"    courses: [{courses[i % len(courses)]}]", "    usage_limit: 100"]
    (directory / "org.yaml").write_text("\n".join(lines) + "\n")

    out = ["users:"]
    for i in range(users):
        g1, g2 = groups[i % len(groups)], groups[(i * 7 + 1) % len(groups)]
        c1, c2 = courses[i % len(courses)], courses[(i * 3 + 1) % len(courses)]
        out += [
            f"  - email: user{i}@bench.example",
            f"    first_name: First{i}",
            f"    last_name: Last{i}",
            f"    username: user{i}",
            f"    employee_id: E-{i:06d}",
            "    job_title: Engineer",
            "    role: learner",
            f"    department: {departments[i % len(departments)]}",
            f"    groups: [{', '.join(sorted({g1, g2}))}]",
            f"    enrollments: [{', '.join(sorted({c1, c2}))}]",
        ]
    (directory / "users.yaml").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("users", type=int)
    args = parser.parse_args()
    generate(args.directory, args.users)
