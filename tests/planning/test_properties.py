"""Property test: for random before/after organisations, the plan's order always works.

The embedded LMS enforces referential integrity (no department deleted while users are in it,
no membership in a group that does not exist yet), so applying a badly ordered plan fails.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsform.apply import apply_plan
from lmsform.backends import open_backend
from lmsform.config import load_config
from lmsform.planning import make_plan
from lmsform.providers.local import LocalProvider
from lmsform.resources import references
from lmsform.state import State
from tests import yaml_writer

REGIONS = ["North", "South", "East"]
DIVISIONS = ["Sales", "Ops"]
DEPARTMENTS = ["A", "B", "C"]
GROUPS = [f"G{i}" for i in range(4)]
COURSES = [f"c{i}" for i in range(4)]
USERS = [f"u{i}@example.com" for i in range(8)]


@st.composite
def organisations(draw: st.DrawFn) -> dict:
    hierarchy = {}
    for region in draw(st.sets(st.sampled_from(REGIONS), min_size=1)):
        divisions = {}
        for division in draw(st.sets(st.sampled_from(DIVISIONS), min_size=1)):
            divisions[division] = sorted(draw(st.sets(st.sampled_from(DEPARTMENTS), min_size=1)))
        hierarchy[region] = divisions
    departments = [f"{r}/{d}/{p}" for r, ds in hierarchy.items() for d, ps in ds.items()
                   for p in ps]
    courses = sorted(draw(st.sets(st.sampled_from(COURSES))))
    groups = {g: sorted(draw(st.sets(st.sampled_from(courses)))) if courses else []
              for g in sorted(draw(st.sets(st.sampled_from(GROUPS))))}
    users = {}
    for email in sorted(draw(st.sets(st.sampled_from(USERS)))):
        users[email] = {
            "department": draw(st.sampled_from(departments)),
            "groups": sorted(draw(st.sets(st.sampled_from(sorted(groups))))) if groups else [],
            "enrollments": sorted(draw(st.sets(st.sampled_from(courses)))) if courses else [],
        }
    coupons = {f"CODE{i}": sorted(draw(st.sets(st.sampled_from(courses)))) if courses else []
               for i in range(draw(st.integers(0, 2)))}
    return {"hierarchy": hierarchy, "courses": courses, "groups": groups, "users": users,
            "coupons": coupons}


def write(directory: Path, org: dict) -> None:
    document = {
        "provider": {"type": "local", "path": "lms.sqlite"},
        "state": {"path": "state.json"},
        "settings": {"user_removal": "delete", "max_delete_fraction": 1},
        "hierarchy": [
            {"region": r, "divisions": [{"division": d, "departments": ps}
                                        for d, ps in ds.items()]}
            for r, ds in org["hierarchy"].items()
        ],
        "courses": [{"key": c, "title": f"Course {c}"} for c in org["courses"]],
        "groups": [{"name": g, "courses": cs} for g, cs in org["groups"].items()],
        "users": [{"email": e, **u} for e, u in org["users"].items()],
        "coupons": [{"code": c, "discount": {"percent": 10}, "courses": cs}
                    for c, cs in org["coupons"].items()],
    }
    (directory / "org.yaml").write_text(yaml_writer.dump(document))


def plan_and_apply(directory: Path) -> list:
    config = load_config(directory)
    state = State.load(open_backend(config.state, config.directory))
    provider = LocalProvider(config.provider, directory)
    try:
        plan = make_plan(config, state, provider)
        result = apply_plan(plan, state, provider, {}, parallelism=4)
    finally:
        provider.close()
    assert result.ok, [f.message for f in result.failed]
    return plan.operations


def addresses(kind: str, attrs: dict | None) -> set[str]:
    return {f"{target}.{key}" for _, target, key in references(kind, attrs)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(organisations(), organisations())
def test_any_change_between_two_organisations_applies_in_order(before: dict, after: dict):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write(directory, before)
        plan_and_apply(directory)
        write(directory, after)
        operations = plan_and_apply(directory)
        position = {op.address: i for i, op in enumerate(operations)}
        for op in operations:
            for dep in op.depends_on:
                assert position[dep] < position[op.address]
            if op.action in {"create", "update"}:
                for ref in addresses(op.kind, op.after):
                    created = position.get(ref)
                    if created is not None and operations[created].action == "create":
                        assert created < position[op.address]
            if op.action == "delete":
                for other in operations:
                    if op.address in addresses(other.kind, other.before):
                        assert position[other.address] < position[op.address]
        # ...and the result converged.
        config = load_config(directory)
        provider = LocalProvider(config.provider, directory)
        try:
            state = State.load(open_backend(config.state, config.directory))
            assert make_plan(config, state, provider).operations == []
        finally:
            provider.close()
