"""The editor schema says what `validate` says: every manifest validate accepts passes the
schema, and what validate rejects and JSON Schema can express, the schema rejects too."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft202012Validator

from lmsform.config import load_config
from lmsform.errors import ManifestError
from lmsform.kinds.coupon import CouponSpec
from lmsform.kinds.course import CourseSpec
from lmsform.kinds.department import DepartmentSpec
from lmsform.kinds.division import DivisionSpec
from lmsform.kinds.group import GroupSpec
from lmsform.kinds.region import RegionSpec
from lmsform.kinds.user import UserSpec
from lmsform.resources import SCHEMAS
from lmsform.schema import manifest_schema
from lmsform.yamlfile import YamlFile
from tests.support import BASE, ORG

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def schema_validator() -> Any:
    schema = manifest_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)  # stock: no keyword of the schema needs help


def errors(validator: Any, path: Path) -> list[str]:
    return [e.message for e in validator.iter_errors(YamlFile(path).load())]


MANIFESTS = sorted([*EXAMPLES.glob("*/*.yaml"), *EXAMPLES.glob("environments/*/*.yaml")])


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_manifest_passes_the_schema(schema_validator: Any, path: Path) -> None:
    assert errors(schema_validator, path) == []


def test_the_test_fixtures_pass_the_schema(schema_validator: Any, tmp_path: Path) -> None:
    for name, text in (("base.yaml", BASE), ("org.yaml", ORG)):
        (tmp_path / name).write_text(text)
        assert errors(schema_validator, tmp_path / name) == [], name
    load_config(tmp_path)  # and validate accepts them


ACCEPTED = {
    "numbers for text": "users:\n  - email: a@example.com\n    employee_id: 1001\n"
                        "    job_title: 7\ngroups:\n  - name: 1.10\n    description: 1.50\n",
    "the department shorthand and the long form":
        "hierarchy:\n  - region: EMEA\n    divisions:\n      - division: Ops\n"
        "        departments: [Finance, {name: People}]\n",
    "a numeric org id": "provider: {type: ilms, org_id: 99999, api_login_id: a, "
                        "transaction_key: b}\n",
    "amounts as numbers and text, lower-case currency":
        "courses:\n  - key: c\n    title: C\n    pricing:\n"
        "      - {plan: a, amount: 49.99, currency: usd}\n"
        "      - {plan: c, amount: 19.99, currency: usd}\n"
        "      - {plan: b, amount: '10.5', currency: EUR}\n",
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_what_validate_accepts_the_schema_accepts(schema_validator: Any, tmp_path: Path,
                                                  name: str) -> None:
    (tmp_path / "x.yaml").write_text(ACCEPTED[name])
    if "provider" not in ACCEPTED[name]:
        (tmp_path / "p.yaml").write_text("provider: {type: local}\n")
    load_config(tmp_path)
    assert errors(schema_validator, tmp_path / "x.yaml") == []


REJECTED = {
    "credits in words": "courses:\n  - key: c\n    title: C\n    credits: three\n",
    "a malformed email": "users:\n  - email: not-an-email\n",
    "a slash in a hierarchy name": "hierarchy:\n  - region: A/B\n",
    "a slash in a department": "hierarchy:\n  - region: A\n    divisions:\n"
                               "      - division: D\n        departments: [X/Y]\n",
    # written as a YAML number, its places are validate's only (the schema's docstring)
    "an amount with three decimals": "courses:\n  - key: c\n    title: C\n    pricing:\n"
                                     "      - {plan: a, amount: '49.999', currency: USD}\n",
    "an unknown local provider setting": "provider: {type: local, colour: red}\n",
    "an unknown ilms provider setting": "provider: {type: ilms, org_id: '1', api_login_id: a, "
                                        "transaction_key: b, colour: red}\n",
    "an unknown provider": "provider: {type: nosuch}\n",
    "an unknown state setting": "state: {backend: file, colour: red}\n",
    "an unknown field": "groups:\n  - name: A\n    colour: red\n",
    "a percent over 100": "coupons:\n  - code: X\n    discount: {percent: 150}\n",
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_what_validate_rejects_the_schema_rejects(schema_validator: Any, tmp_path: Path,
                                                  name: str) -> None:
    (tmp_path / "x.yaml").write_text(textwrap.dedent(REJECTED[name]))
    if "provider" not in REJECTED[name]:
        (tmp_path / "p.yaml").write_text("provider: {type: local}\n")
    with pytest.raises(ManifestError):
        load_config(tmp_path)
    assert errors(schema_validator, tmp_path / "x.yaml") != []


def test_each_kinds_ignore_changes_names_its_managed_fields() -> None:
    """The lifecycle models' field names (for the schema's enums) are resources.SCHEMAS'."""
    specs = {"region": RegionSpec, "division": DivisionSpec, "department": DepartmentSpec,
             "course": CourseSpec, "group": GroupSpec, "user": UserSpec, "coupon": CouponSpec}
    for kind, spec in specs.items():
        lifecycle = get_args(spec.model_fields["lifecycle"].annotation)[0]
        assert lifecycle.kind == kind
        assert lifecycle.field_names() == SCHEMAS[kind].fields, kind
