"""Moving between vendors: export from one, point the provider block at another, plan with
--drop-unsupported, apply. What survives a round trip from iLMS to the local LMS and back is
exactly what both capability tables can hold (docs/migration.md walks through the same), and
the quick start's organisation moves from the local LMS to iLMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsform.config import load_config
from lmsform.providers.base import Provider
from lmsform.providers.ilms import IlmsProvider
from lmsform.providers.local import LocalProvider
from lmsform.resources import SCHEMAS
from lmsform_simulators.ilms import IlmsSimulator
from tests.support import Simulators, copy_example, lmsform

EXAMPLE = Path(__file__).parent.parent / "examples" / "ilms"


def point_at(directory: Path, provider: str, state: str | None = None) -> None:
    """Replace the provider block of an exported directory (and give it a state of its
    own, when `state` names one)."""
    lmsform_yaml = directory / "lmsform.yaml"
    text = lmsform_yaml.read_text()
    start, end = text.index("provider:"), text.index("settings:")
    own = f"state: {{path: {state}}}\n" if state else ""
    lmsform_yaml.write_text(text[:start] + provider + own + text[end:])


def manifests(directory: Path) -> dict[str, dict[str, Any]]:
    return {a: r.attrs for a, r in load_config(directory).resources.items()}


def predicted_drops(declared: dict[str, dict[str, Any]], target: type[Provider]) -> set[str]:
    """What the target's capability table says it cannot hold of these manifests."""
    caps = target.capabilities.kinds
    drops = {f"{a.split('.')[0]}s" for a in declared if a.split(".")[0] not in caps}
    for address, attrs in declared.items():
        kind = address.split(".")[0]
        if kind in caps:
            allowed = caps[kind].fields | SCHEMAS[kind].identity_only
            drops |= {f"{kind}.{name}" for name in attrs if name not in allowed}
    return drops


def listed_drops(plan: dict[str, Any]) -> set[str]:
    return {line.split(":")[0] for line in plan["dropped"]}


def survivors(declared: dict[str, dict[str, Any]],
              *through: type[Provider]) -> dict[str, dict[str, Any]]:
    """The resources and fields every provider on the way can hold."""
    kept = {}
    for address, attrs in declared.items():
        kind = address.split(".")[0]
        if all(kind in p.capabilities.kinds for p in through):
            kept[address] = {k: v for k, v in attrs.items() if all(
                k in p.capabilities.kinds[kind].fields | SCHEMAS[kind].identity_only
                for p in through)}
    return kept


@pytest.fixture
def sims(simulators: Simulators) -> tuple[IlmsSimulator, IlmsSimulator]:
    return simulators.start(IlmsSimulator()), simulators.start(IlmsSimulator())


def test_ilms_to_local_and_back_keeps_what_both_can_hold(
        tmp_path: Path, sims: tuple[IlmsSimulator, IlmsSimulator]) -> None:
    first, second = sims
    source = copy_example(EXAMPLE, tmp_path / "ilms", {
        "${env:ILMS_BASE_URL:-http://127.0.0.1:8080}": first.base_url,
        "../../state/ilms.json": "state.json"})
    assert lmsform("apply", "-C", str(source), "--auto-approve").exit_code == 0

    # iLMS -> local
    on_local = tmp_path / "on-local"
    assert lmsform("export", "-C", str(source), "--out", str(on_local)).exit_code == 0
    local = "provider:\n  type: local\n  path: lms.sqlite\n"
    point_at(on_local, local)
    refused = lmsform("plan", "-C", str(on_local))  # the state export wrote is iLMS's
    assert refused.exit_code == 1 and "refusing to mix them" in refused.output
    point_at(on_local, local, "local-state.json")
    # on the local LMS, things iLMS cannot hold: a coupon, a course's credits and categories
    (on_local / "coupons.yaml").write_text("coupons:\n  - code: WELCOME10\n"
                                           "    discount: {percent: 10}\n")
    courses = on_local / "courses.yaml"
    courses.write_text(courses.read_text().replace(
        "    title: Security Awareness\n",
        "    title: Security Awareness\n    credits: 2\n    categories: [Compliance]\n"))
    original = manifests(on_local)
    plan = json.loads(lmsform("plan", "-C", str(on_local), "--drop-unsupported", "--json").output)
    assert listed_drops(plan) == predicted_drops(original, LocalProvider)
    assert {op["action"] for op in plan["operations"]} == {"create"}
    assert len(plan["operations"]) == len(original)
    assert lmsform("apply", "-C", str(on_local), "--auto-approve",
               "--drop-unsupported").exit_code == 0

    # local -> a new iLMS
    back = tmp_path / "back-on-ilms"
    assert lmsform("export", "-C", str(on_local), "--out", str(back)).exit_code == 0
    from_local = manifests(back)
    point_at(back, "provider:\n  type: ilms\n"
                   f"  base_url: {second.base_url}\n  org_id: '99999'\n"
                   "  api_login_id: ${env:ILMS_LOGIN:-sim-login}\n"
                   "  transaction_key: ${env:ILMS_KEY:-sim-key}\n"
                   "  requests_per_second: 1000\n", "ilms-state.json")
    plan_text = lmsform("plan", "-C", str(back), "--drop-unsupported")
    plan = json.loads(lmsform("plan", "-C", str(back), "--drop-unsupported", "--json").output)
    assert listed_drops(plan) == predicted_drops(from_local, IlmsProvider) == {
        "coupons", "course.categories", "course.credits", "user.role"}  # role: learner
    assert plan_text.output.index("Not carried over") < plan_text.output.index("lmsform will")
    assert "  ! coupons: all 1 (the ilms provider does not manage coupons)" in plan_text.output
    refused = lmsform("plan", "-C", str(back))  # without the flag: refused, as always
    assert refused.exit_code == 1 and "does not manage coupons" in refused.output
    assert lmsform("apply", "-C", str(back), "--auto-approve", "--drop-unsupported").exit_code == 0

    # what the second iLMS holds is what both tables predicted would survive
    again = tmp_path / "exported-again"
    assert lmsform("export", "-C", str(back), "--out", str(again)).exit_code == 0
    assert manifests(again) == survivors(original, LocalProvider, IlmsProvider)


ILMS = ("provider:\n  type: ilms\n  base_url: {url}\n  org_id: '99999'\n"
        "  api_login_id: ${{env:ILMS_LOGIN:-sim-login}}\n"
        "  transaction_key: ${{env:ILMS_KEY:-sim-key}}\n  requests_per_second: 1000\n")


def test_the_quick_start_organisation_moves_to_ilms(
        tmp_path: Path, sims: tuple[IlmsSimulator, IlmsSimulator]) -> None:
    """The quick start's acme, exported from the local LMS and planned against iLMS: what
    iLMS cannot hold (coupons, fields, custom fields, courses and groups it cannot create,
    and the references to them) is listed first and left out; the rest applies."""
    first, _ = sims
    acme = copy_example(EXAMPLE.parent / "acme", tmp_path / "acme",
                        {"../../state/acme.json": "state.json"})
    assert lmsform("apply", "-C", str(acme), "--auto-approve").exit_code == 0
    moved = tmp_path / "on-ilms"
    assert lmsform("export", "-C", str(acme), "--out", str(moved)).exit_code == 0
    point_at(moved, ILMS.format(url=first.base_url), "ilms-state.json")

    refused = lmsform("plan", "-C", str(moved))
    assert refused.exit_code == 1
    assert "does not support the user field 'role'" in refused.output
    assert "`--drop-unsupported` (plan, apply) leaves out what it cannot hold" in refused.output

    plan = json.loads(lmsform("plan", "-C", str(moved), "--drop-unsupported", "--json").output)
    dropped = listed_drops(plan)
    assert {"coupons", "user.custom.cost_center", "user.role", "courses", "groups",
            "user.groups"} <= dropped
    text = lmsform("plan", "-C", str(moved), "--drop-unsupported").output
    assert text.index("Not carried over") < text.index("lmsform will perform")
    applied = lmsform("apply", "-C", str(moved), "--auto-approve", "--drop-unsupported")
    assert applied.exit_code == 0, applied.output
    again = lmsform("plan", "-C", str(moved), "--drop-unsupported", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
