"""The CEL layer: what compiles where, what the compiler's errors become, and what evaluation
gives back (verdicts, failures, the several verdicts of one combined program)."""

from __future__ import annotations

import pytest

from lmsform.cel import CelError, Failed, Place, compile_expression, conjunction, fields_read


@pytest.mark.parametrize(("expression", "place", "said"), [
    ("resource.x <= 50 &&", Place.RESOURCE, "Syntax error: mismatched input '<EOF>'"),
    ("resourse.role == 'admin'", Place.RESOURCE,
     "undeclared reference to 'resourse.role' (a policy evaluated here sees `resource`)"),
    ("size(all.user) < 3", Place.CHANGE, "sees `change`"),
    ("resource.kind\n  && 1 + 'a'", Place.RESOURCE, "(line 2, column 8)"),
    ("'text'", Place.RESOURCE, "gives a value of type string, where a policy must give true"),
    ("size(all.user)", Place.CONFIG, "gives a value of type int"),
])
def test_what_does_not_compile_says_why_and_where(expression: str, place: Place,
                                                  said: str) -> None:
    with pytest.raises(CelError) as raised:
        compile_expression(expression, place)
    assert said in str(raised.value)
    assert "in container" not in str(raised.value)


def test_each_place_sees_its_own_variable_with_the_standard_extensions() -> None:
    resource = compile_expression("resource.email.lowerAscii().endsWith('@x.example')",
                                  Place.RESOURCE)
    assert resource.evaluate({"email": "Ada@X.EXAMPLE"}) is True
    config = compile_expression("size(all.user.filter(u, u.role == 'admin')) <= 1",
                                Place.CONFIG)
    assert config.evaluate({"user": [{"role": "admin"}, {"role": "learner"}]}) is True
    assert config.evaluate({"user": [{"role": "admin"}] * 2}) is False
    change = compile_expression("math.greatest(1, 2) == 2 && change.action != 'delete'",
                                Place.CHANGE)
    assert change.evaluate({"action": "delete"}) is False


@pytest.mark.parametrize(("expression", "read"), [
    ("change.after == null || change.after.role != 'admin'", {"after.role"}),
    ("change.action != 'delete' && change.before != null", {"action"}),
    ("change.after.pricing.all(p, true)", {"after.pricing"}),
    ("change.after.all(k, true)", None),
    ("size(change.before) > 1", None),
])
def test_through_a_change_s_sides_the_fields_of_each_side_are_read(
        expression: str, read: set[str] | None) -> None:
    found = fields_read(expression, "change", frozenset({"before", "after"}))
    assert found == (None if read is None else frozenset(read))


def test_a_conjunction_too_long_for_the_runtime_is_none_and_each_is_asked_alone() -> None:
    allowed = "resource.email in [" + ", ".join(f"'u{i}@x.example'" for i in range(3000)) + "]"
    assert compile_expression(allowed, Place.RESOURCE).holds({"email": "u7@x.example"})
    assert conjunction([allowed, allowed + " || false"], Place.RESOURCE) is None


def test_a_failed_evaluation_is_a_failure_not_a_verdict() -> None:
    program = compile_expression("resource.role == 'admin'", Place.RESOURCE)
    failed = program.evaluate({})
    assert isinstance(failed, Failed) and "role" in failed.error
    assert program.evaluate({"role": "admin"}) is True


def test_numbers_compare_across_int_and_double() -> None:
    program = compile_expression("resource.discount.percent <= 50", Place.RESOURCE)
    assert [program.evaluate({"discount": {"percent": p}}) for p in (50.0, 50.5, 12)] == \
        [True, False, True]


def test_a_conjunction_holds_only_where_every_expression_gives_true() -> None:
    """A trailing comment in one expression cannot swallow the next; an error or a
    non-boolean on either side is not `true`."""
    program = conjunction(["resource.a // a comment", "resource.b"], Place.RESOURCE)
    assert program.holds({"a": True, "b": True})
    assert not program.holds({"a": True, "b": False})
    assert not program.holds({"a": True})
    assert not program.holds({"a": True, "b": "yes"})
    assert not program.holds({"a": False, "b": 1})


@pytest.mark.parametrize(("expression", "read"), [
    ("has(resource.role) && resource.email.endsWith('x')", {"role", "email"}),
    ("resource . role == 'a' && resource.role.size() > 1", {"role"}),
    ("resource.all(k, true)", None),
    ("resource['role'] == 'a'", None),
    ("size(resource) > 1", None),
    ("resource.groups.all(resource, resource.size() > 0)", None),
    ("has(resource.role) || 'resource' != ''", None),
    ("x.resource.y", set()),
    ("f(x) . resource.y && m[0].resource", set()),
    ("!has(.resource.role) || .resource.role != 'admin'", {"role"}),
    ("!.resource.active", {"active"}),
    (". resource", None),
    ("'onboarding' in .resource.enrollments", {"enrollments"}),
])
def test_the_fields_an_expression_reads_where_its_text_shows_them_all(
        expression: str, read: set[str] | None) -> None:
    assert fields_read(expression, "resource") == (None if read is None else frozenset(read))
