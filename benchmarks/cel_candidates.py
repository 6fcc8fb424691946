"""The CEL implementations lmsform could use, measured on policies of the kind
docs/policies.md shows, over N users' attributes: compile once, evaluate per resource.

    python benchmarks/cel_candidates.py 100000

Needs `pip install cel-python cel-expr-python` (neither is a dependency of lmsform until one
is chosen). Prints seconds per implementation, and checks both give the same verdicts.
"""

from __future__ import annotations

import sys
import time
from typing import Any

POLICIES = [
    "!has(resource.role) || resource.role != 'admin' || "
    "resource.department.startsWith('Global/IT/')",
    "size(resource.email) < 200",
    "!has(resource.groups) || size(resource.groups) <= 20",
    "resource.kind == 'user'",
    "!has(resource.active) || resource.active",
]


def users(n: int) -> list[dict[str, Any]]:
    return [{"address": f"user.u{i}@example.com", "kind": "user", "email": f"u{i}@example.com",
             "role": "admin" if i % 1000 == 0 else "learner",
             "department": "Global/IT/Ops" if i % 2000 == 0 else "Americas/Sales/Inside",
             "groups": ["Everyone", "Sales"], "active": True} for i in range(n)]


def with_celpy(resources: list[dict[str, Any]]) -> list[bool]:
    import celpy
    env = celpy.Environment()
    programs = [env.program(env.compile(p)) for p in POLICIES]
    verdicts = []
    for r in resources:
        activation = {"resource": celpy.json_to_cel(r)}
        verdicts.append(all(bool(p.evaluate(activation)) for p in programs))
    return verdicts


def with_cel_expr(resources: list[dict[str, Any]]) -> list[bool]:
    """One program per policy, one activation per resource."""
    from cel_expr_python import cel
    env = cel.NewEnv(variables={"resource": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)})
    programs = [env.compile(p) for p in POLICIES]
    verdicts = []
    for r in resources:
        activation = env.Activation(data={"resource": r})
        verdicts.append(all(p.eval(activation).value() for p in programs))
    return verdicts


def with_cel_expr_at_once(resources: list[dict[str, Any]]) -> list[bool]:
    """One program giving every policy's verdict as a list: one evaluation per resource."""
    from cel_expr_python import cel
    env = cel.NewEnv(variables={"resource": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)})
    program = env.compile("[" + ", ".join(f"({p})" for p in POLICIES) + "]")
    return [all(program.eval(data={"resource": r}).plain_value()) for r in resources]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    resources = users(n)
    results = {}
    for name, run in (("cel-expr-python", with_cel_expr),
                      ("cel-expr-python, one program", with_cel_expr_at_once),
                      ("cel-python", with_celpy)):
        start = time.perf_counter()
        results[name] = run(resources)
        print(f"{name}: {time.perf_counter() - start:.2f} s for {len(POLICIES)} policies "
              f"over {n:,} resources")
    assert len({tuple(verdicts) for verdicts in results.values()}) == 1


if __name__ == "__main__":
    main()
