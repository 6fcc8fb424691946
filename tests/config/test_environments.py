"""Environments: config directories that share manifests through `include:` and differ by
`vars:`, each with its own provider, state and lock (examples/environments)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from lmsform.backends.file import FileBackend
from tests.support import lmsform, recorded

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "environments"


def run(directory: Path, *args: str) -> Result:
    return lmsform(*args, "-C", str(directory))


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    root = tmp_path / "environments"
    shutil.copytree(EXAMPLE, root)
    for name in ("staging", "production"):
        lmsform_yaml = root / name / "lmsform.yaml"
        lmsform_yaml.write_text(lmsform_yaml.read_text().replace(
            f"../../../state/environments-{name}.json", "state.json"))
    return root


def plan_json(directory: Path) -> dict:  # type: ignore[type-arg]
    result = run(directory, "plan", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_each_environment_plans_and_applies_on_its_own(envs: Path) -> None:
    staging, production = envs / "staging", envs / "production"
    plans = {name: plan_json(envs / name) for name in ("staging", "production")}
    prices = {name: next(op["after"]["pricing"]["standard"]["amount"]
                         for op in plan["operations"] if op["address"] == "course.security-101")
              for name, plan in plans.items()}
    assert prices == {"staging": "0.00", "production": "49.00"}
    assert {op["address"] for op in plans["production"]["operations"]} - \
        {op["address"] for op in plans["staging"]["operations"]} == {
        "user.ada.lovelace@acme.example", "user.grace.hopper@acme.example", "coupon.LAUNCH20"}
    assert plans["staging"]["provider"] != plans["production"]["provider"]
    assert run(staging, "apply", "--auto-approve").exit_code == 0
    assert run(production, "plan", "--detailed-exitcode").exit_code == 2  # untouched
    assert run(production, "apply", "--auto-approve").exit_code == 0
    for directory in (staging, production):
        assert run(directory, "plan", "--detailed-exitcode").exit_code == 0
        assert (directory / "state.json").exists()


def test_a_change_to_the_shared_catalogue_shows_in_both(envs: Path) -> None:
    for name in ("staging", "production"):
        assert run(envs / name, "apply", "--auto-approve").exit_code == 0
    catalogue = envs / "shared" / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text().replace("title: GDPR Basics",
                                                       "title: GDPR Essentials"))
    for name in ("staging", "production"):
        plan = run(envs / name, "plan")
        assert 'title: "GDPR Basics" -> "GDPR Essentials"' in plan.output, plan.output


def test_one_environments_lock_never_holds_the_other(envs: Path) -> None:
    production = FileBackend.at(envs / "production" / "state.json")
    with production.lock("apply"):
        assert run(envs / "staging", "apply", "--auto-approve").exit_code == 0
        refused = run(envs / "production", "apply", "--auto-approve")
        assert refused.exit_code == 1 and "the state is locked by" in refused.output


def test_errors_in_shared_manifests_name_the_shared_file(envs: Path) -> None:
    catalogue = envs / "shared" / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text().replace("${var:security_price}",
                                                       "${var:no_such_price}"))
    (envs / "shared" / "oops.yaml").write_text("provider: {type: local}\n")
    result = run(envs / "staging", "validate")
    assert result.exit_code == 1
    assert "shared/catalogue.yaml:11:" in result.output
    assert "variable no_such_price is not in this directory's vars: block" in result.output
    assert "shared/oops.yaml:1:1: error: provider: an included directory holds shared " \
           "resources only" in result.output


def test_an_include_that_is_not_a_directory_is_an_error(envs: Path) -> None:
    lmsform_yaml = envs / "staging" / "lmsform.yaml"
    lmsform_yaml.write_text(lmsform_yaml.read_text().replace("[../shared]", "[../shard]"))
    result = run(envs / "staging", "validate")
    assert result.exit_code == 1
    assert "lmsform.yaml:9:11: error: include[0]: no such directory: ../shard" in result.output


def test_env_references_in_vars_are_expanded(envs: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """A value taken from the environment is a secret to lmsform: the LMS gets it, plans
    show `(sensitive)`, the state does not keep it."""
    lmsform_yaml = envs / "production" / "lmsform.yaml"
    lmsform_yaml.write_text(lmsform_yaml.read_text().replace(
        "security_price: 49.00", "security_price: ${env:PRODUCTION_PRICE}"))
    monkeypatch.setenv("PRODUCTION_PRICE", "59.00")
    plan = plan_json(envs / "production")
    (course,) = [op for op in plan["operations"] if op["address"] == "course.security-101"]
    assert course["after"]["pricing"] == "(sensitive)"
    assert run(envs / "production", "apply", "--auto-approve").exit_code == 0
    lms = sqlite3.connect(envs / "production" / "production-lms.sqlite")
    assert lms.execute("SELECT amount FROM course_prices").fetchall() == [("59.00",)]
    state = envs / "production" / "state.json"
    assert "59.00" not in state.read_text() and "course.security-101" in recorded(state)
    assert run(envs / "production", "plan", "--detailed-exitcode").exit_code == 0
    monkeypatch.delenv("PRODUCTION_PRICE")
    refused = run(envs / "production", "plan")
    assert refused.exit_code == 1 and "PRODUCTION_PRICE is not set" in refused.output


@pytest.mark.parametrize(("vars_block", "where"), [
    ("vars:\n  security_price: ${var:security_price}\n", "lmsform.yaml:12:19"),
    ("vars:\n  base: 49.00\n  security_price: ${var:base}\n", "lmsform.yaml:13:19"),
    ("vars:\n  security_price: 49.00\ninclude: ['${var:security_price}']\n",
     "lmsform.yaml:12:11"),
])
def test_a_variable_never_refers_to_another_nor_to_itself(
    envs: Path, vars_block: str, where: str
) -> None:
    """`vars:` and `include:` are read before any variable has a value: a `${var:...}` in
    them is an error at its place, never text that reaches the LMS."""
    lmsform_yaml = envs / "production" / "lmsform.yaml"
    text = lmsform_yaml.read_text()
    text = text[:text.index("include:")] + ("include: [../shared]\n"
                                            if "include:" not in vars_block else "")
    lmsform_yaml.write_text(text + vars_block)
    result = run(envs / "production", "validate")
    assert result.exit_code == 1
    assert f"{where}: error:" in result.output
    assert "cannot be used in vars: or include:" in result.output
    assert "1 error in the manifests" in result.output  # no cascade of unknown names


def test_env_references_in_include_are_expanded(envs: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED_DIR", "../shared")
    lmsform_yaml = envs / "production" / "lmsform.yaml"
    lmsform_yaml.write_text(lmsform_yaml.read_text().replace(
        "[../shared]", "['${env:SHARED_DIR}']"))
    plan = plan_json(envs / "production")
    assert any(op["address"] == "course.security-101" for op in plan["operations"])


def test_a_malformed_reference_in_an_included_file_names_that_file(envs: Path) -> None:
    catalogue = envs / "shared" / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text().replace(
        '"${var:security_price}"', '"\\x24{var:security_price"'))
    result = run(envs / "production", "validate")
    assert result.exit_code == 1
    assert "shared/catalogue.yaml:11:" in result.output
    assert "malformed reference" in result.output
