"""Manifest loading: every bad input is reported at once, with file:line:column and field path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from lmsform.config import load_config
from lmsform.errors import LmsformError, ManifestError


def problems(directory: Path, **kwargs) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_config(directory, **kwargs)
    return [str(p) for p in caught.value.problems]


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text))


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    write(directory, "a.yaml", """\
        provider: {type: local}
        hierarchy:
          - region: EMEA
            divisions:
              - division: Ops
                departments: [Finance]
        courses:
          - key: sec
            title: Security
        groups:
          - name: Managers
        """)
    return directory


def test_valid_directory_loads_and_merges_files(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        users:
          - email: Ada@Example.com
            department: EMEA/Ops/Finance
            groups: [Managers]
            enrollments: [sec]
        """)
    config = load_config(cfg)
    assert list(config.resources) == [
        "region.EMEA", "division.EMEA/Ops", "department.EMEA/Ops/Finance", "course.sec",
        "group.Managers", "user.ada@example.com",
    ]
    user = config.resources["user.ada@example.com"]
    assert user.attrs == {"email": "ada@example.com", "department": "EMEA/Ops/Finance",
                          "groups": ["Managers"], "enrollments": ["sec"]}


def test_yaml_syntax_error_has_position(cfg: Path) -> None:
    write(cfg, "b.yaml", "users:\n  - email: [a@example.com\n")
    (message,) = problems(cfg)
    assert "b.yaml:3:1: error: invalid YAML" in message


def test_duplicate_key_is_an_error(cfg: Path) -> None:
    write(cfg, "b.yaml", "groups:\n  - name: A\n    name: B\n")
    (message,) = problems(cfg)
    assert "b.yaml:3:5" in message
    assert 'duplicate key "name"' in message


def test_unknown_fields_and_top_level_keys(cfg: Path) -> None:
    write(cfg, "b.yaml", "colours: [red]\ngroups:\n  - name: A\n    colour: blue\n")
    found = problems(cfg)
    assert any("b.yaml:1:1: error: colours: unknown section 'colours'" in p for p in found)
    assert any("b.yaml:4:5: error: groups[0].colour: unknown field 'colour'" in p for p in found)


def test_wrong_types_bad_email_and_money_all_reported_together(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        users:
          - email: not-an-email
            active: maybe
        courses:
          - key: paid
            title: Paid
            pricing:
              - {plan: std, amount: -5, currency: USD}
              - {plan: pro, amount: 1.234, currency: USD}
              - {plan: max, amount: lots, currency: USD}
              - {plan: eur, amount: 5, currency: XXQ}
        coupons:
          - code: BIG
            discount: {percent: 120}
          - code: ZERO
            discount: {percent: 0}
        """)
    found = problems(cfg)
    expected = [
        ("b.yaml:2:12", "users[0].email", "not a valid email address"),
        ("b.yaml:3:13", "users[0].active", "valid boolean"),
        ("b.yaml:8:29", "courses[0].pricing[0].amount", "greater than or equal to 0"),
        ("b.yaml:9:29", "courses[0].pricing[1].amount", "too many decimal places"),
        ("b.yaml:10:29", "courses[0].pricing[2].amount", "must be a decimal number"),
        ("b.yaml:11:42", "courses[0].pricing[3].currency", "ISO 4217"),
        ("b.yaml:14:25", "coupons[0].discount.percent", "less than or equal to 100"),
        ("b.yaml:16:25", "coupons[1].discount.percent", "greater than 0"),
    ]
    assert len(found) == len(expected)
    for (where, path, rule), message in zip(expected, found, strict=True):
        assert where in message and f" {path}: " in message and rule in message, message


def test_duplicate_pricing_plan_within_a_course(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        courses:
          - key: paid
            title: Paid
            pricing:
              - {plan: std, amount: 5, currency: USD}
              - {plan: std, amount: 6, currency: USD}
        """)
    (message,) = problems(cfg)
    # the duplicate is pointed at, and the first one's place named
    assert "b.yaml:6:16: error: courses[0].pricing[1].plan: pricing plan 'std' appears twice; " \
        "the first is at " in message and message.endswith("b.yaml:5:9")


def test_duplicate_resources_across_files_name_both_places(cfg: Path) -> None:
    write(cfg, "b.yaml", "groups:\n  - name: Managers\n")
    (message,) = problems(cfg)
    assert "b.yaml:2:5: error: groups[0]: duplicate group 'Managers'" in message
    assert message.endswith("also declared at " + str(cfg / "a.yaml") + ":11:5")


def test_unknown_references(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        users:
          - email: ada@example.com
            department: EMEA/Ops/Nowhere
            groups: [Managers, Ghosts]
            enrollments: [nope]
        groups:
          - name: Leads
            courses: [missing]
        coupons:
          - code: X
            discount: {amount: 5, currency: USD}
            courses: [sec, gone]
        """)
    found = problems(cfg)
    assert any("b.yaml:3:17" in p and "unknown department 'EMEA/Ops/Nowhere'" in p for p in found)
    assert any("b.yaml:4:24" in p and "users[0].groups[1]: unknown group 'Ghosts'" in p
               for p in found)
    assert any("b.yaml:5:19" in p and "unknown course 'nope'" in p for p in found)
    assert any("groups[0].courses[0]: unknown course 'missing'" in p for p in found)
    assert any("coupons[0].courses[1]: unknown course 'gone'" in p for p in found)
    assert len(found) == 5


def test_unset_environment_variable_is_an_error_for_plan_and_a_warning_offline(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    write(cfg, "b.yaml", """\
        users:
          - email: ada@example.com
            password: ${env:NOT_SET_ANYWHERE}
            first_name: ${env:NOT_SET_EITHER:-Ada}
        """)
    (message,) = problems(cfg)
    assert "b.yaml:3:15" in message and "users[0].password" in message
    assert "environment variable NOT_SET_ANYWHERE is not set" in message
    config = load_config(cfg, offline=True)
    assert [w.warning for w in config.warnings] == [True]
    assert config.resources["user.ada@example.com"].attrs["first_name"] == "Ada"


def test_environment_values_are_substituted(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADA_NAME", "Augusta")
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n    first_name: ${env:ADA_NAME}\n")
    config = load_config(cfg)
    assert config.resources["user.ada@example.com"].attrs["first_name"] == "Augusta"


def test_exactly_one_provider_block(cfg: Path) -> None:
    write(cfg, "b.yaml", "provider: {type: local}\n")
    (message,) = problems(cfg)
    assert "b.yaml:1:1" in message and "a second 'provider' block" in message
    (cfg / "a.yaml").write_text("groups: []\n")
    (cfg / "b.yaml").write_text("users: []\n")
    (message,) = problems(cfg)
    assert "no 'provider:' block" in message


def test_unknown_provider_and_bad_provider_settings(cfg: Path) -> None:
    (cfg / "a.yaml").write_text("provider: {type: nosuch}\n")
    (message,) = problems(cfg)
    assert "a.yaml:1:18" in message and "no provider named 'nosuch'" in message
    (cfg / "a.yaml").write_text("provider: {type: local, colour: blue}\n")
    (message,) = problems(cfg)
    assert "provider.colour: unknown field 'colour'" in message


def test_moved_entries_are_checked(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        moved:
          - {from: nonsense, to: group.Managers}
        """)
    (message,) = problems(cfg)
    assert "moved[0].from" in message and "is not a resource address" in message
    write(cfg, "b.yaml", """\
        moved:
          - {from: group.Old, to: group.New}
          - {from: group.Managers, to: course.sec}
        """)
    found = problems(cfg)
    assert any("moved[0].to: 'group.New' is not declared" in p for p in found)
    assert any("moved[1]: cannot move a group to a course" in p for p in found)
    assert any("moved[1].from: 'group.Managers' is still declared" in p for p in found)
    write(cfg, "b.yaml", """\
        moved:
          - {from: nonsense, to: group.Managers}
          - {from: group.Old, to: group.New}
        """)  # the second is valid, and still named as the second
    found = problems(cfg)
    assert any("b.yaml:3:27: error: moved[1].to: 'group.New' is not declared" in p
               for p in found), found


def test_ignore_changes_must_name_fields(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        users:
          - email: ada@example.com
            lifecycle: {ignore_changes: [first_name, colour]}
        """)
    (message,) = problems(cfg)
    assert "users[0].lifecycle.ignore_changes" in message and "'colour'" in message


def test_names_may_not_contain_slashes(cfg: Path) -> None:
    write(cfg, "b.yaml", "hierarchy:\n  - region: A/B\n")
    (message,) = problems(cfg)
    assert "hierarchy[0].region" in message and "must not contain '/'" in message


def test_numbers_written_for_text_fields_are_text(cfg: Path) -> None:
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n    employee_id: 1001\n")
    attrs = load_config(cfg).resources["user.ada@example.com"].attrs
    assert attrs["employee_id"] == "1001"


@pytest.mark.parametrize("reference", [
    "${env:PW", "${ENV:PW}", "${ env:PW }", "${env:}", "${env:A:-${env:B}}", "x${y}z",
])
def test_a_malformed_reference_is_an_error_at_its_place_even_offline(
    cfg: Path, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW", "secret")
    monkeypatch.setenv("B", "secret")
    write(cfg, "b.yaml", f"users:\n  - email: ada@example.com\n    password: '{reference}'\n")
    for offline in (False, True):
        (message,) = problems(cfg, offline=offline)
        assert "b.yaml:3:15: error: users[0].password: malformed reference" in message
        assert "secret" not in message


def test_a_doubled_dollar_is_a_literal_reference(cfg: Path) -> None:
    write(cfg, "b.yaml", "groups:\n  - name: Costs\n    description: 'costs $${env:HOME} $5'\n")
    attrs = load_config(cfg).resources["group.Costs"].attrs
    assert attrs["description"] == "costs ${env:HOME} $5"


@pytest.mark.parametrize("spelling", [
    r'"\x24{env:ADA_NAME}"', r'"\u0024{env:ADA_NAME}"', r'"$\x7benv:ADA_NAME}"',
    r'"\U00000024{env:ADA_NAME}"', '"$\\\n      {env:ADA_NAME}"',
])
def test_a_reference_spelt_with_yaml_escapes_is_expanded_too(
    cfg: Path, spelling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double-quoted scalar can spell `${` with escapes or a line continuation: the value
    read holds a `${` all the same, and is expanded or refused like any other."""
    monkeypatch.setenv("ADA_NAME", "Augusta")
    write(cfg, "b.yaml", f"users:\n  - email: ada@example.com\n    first_name: {spelling}\n")
    assert load_config(cfg).resources["user.ada@example.com"].attrs["first_name"] == "Augusta"
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n"
          f"    first_name: {spelling.replace('env:', 'nope:')}\n")
    (message,) = problems(cfg)
    assert "b.yaml:3:17: error: users[0].first_name: malformed reference" in message


def test_references_in_mapping_keys_are_expanded_or_refused(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELD", "cost_centre")
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n"
          "    custom: {'${env:FIELD}': C1, '$${kept}': x}\n")
    custom = load_config(cfg).resources["user.ada@example.com"].attrs["custom"]
    assert custom == {"cost_centre": "C1", "${kept}": "x"}
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n"
          "    custom:\n      ok: 1\n      '${oops}': C1\n")
    (message,) = problems(cfg)
    assert "b.yaml:5:7: error: users[0].custom.${oops}: malformed reference" in message


def test_two_keys_that_read_the_same_once_expanded_are_an_error(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELD", "cost_centre")
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n"
          "    custom:\n      cost_centre: C1\n      '${env:FIELD}': C2\n")
    (message,) = problems(cfg)
    assert "b.yaml:5:7: error: users[0].custom.${env:FIELD}: the key '${env:FIELD}' reads " \
        "'***', a key this mapping holds already" in message  # a value from the env: masked


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_references_are_read_in_every_encoding_the_loader_accepts(
    cfg: Path, encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADA_NAME", "Augusta")
    text = "users:\n  - email: ada@example.com\n    first_name: ${env:ADA_NAME}\n"
    (cfg / "b.yaml").write_bytes(text.encode(encoding))
    assert load_config(cfg).resources["user.ada@example.com"].attrs["first_name"] == "Augusta"
    (cfg / "b.yaml").write_bytes(text.replace("${env:ADA_NAME}", "${env:ADA").encode(encoding))
    (message,) = problems(cfg)
    assert "users[0].first_name: malformed reference" in message


HOSTILE_YAML = {
    "an alias bomb": "x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
    "deep flow nesting": "x: " + "[ " * 30000 + "]" * 30000 + "\n",
    "deep mappings": "x: " + "{a: " * 30000 + "}" * 30000 + "\n",
    "deep block nesting": "x:\n" + "".join(" " * i + "- a:\n" for i in range(0, 20000, 2)),
    "a recursive alias": "x: &a [1, *a]\n",
}


@pytest.mark.parametrize("name", list(HOSTILE_YAML))
def test_hostile_yaml_is_refused_with_its_position(cfg: Path, name: str) -> None:
    (cfg / "b.yaml").write_text(HOSTILE_YAML[name])
    (message,) = problems(cfg)
    assert "b.yaml:" in message
    assert ("nested deeper than lmsform reads" in message
            or "aliases expand this file" in message
            or "an alias refers to a value that contains it" in message)


def test_numbers_keep_the_spelling_of_text_fields(cfg: Path) -> None:
    write(cfg, "b.yaml", """\
        groups:
          - name: 1.10
            description: 1.50
        users:
          - email: ada@example.com
            employee_id: 0001
            job_title: 007
            custom: {phone: 0044123, floor: 3, ratio: 0.50}
        """)
    resources = load_config(cfg).resources
    assert resources["group.1.10"].attrs["description"] == "1.50"
    attrs = resources["user.ada@example.com"].attrs
    assert (attrs["employee_id"], attrs["job_title"]) == ("0001", "007")
    assert attrs["custom"] == {"phone": "0044123", "floor": 3, "ratio": "0.50"}


def test_an_impossible_date_is_a_located_error(cfg: Path) -> None:
    write(cfg, "b.yaml", "coupons:\n  - code: X\n    discount: {percent: 5}\n"
          "    expires: 2027-02-30\n")
    (message,) = problems(cfg)
    assert "b.yaml:4:14: error: coupons[0].expires: " in message


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("usage_limit", "99999999999999999999", "less than or equal to 2147483647"),
    ("expires", "2027-13-01", "expires"),
])
def test_values_that_cannot_be_stored_are_refused(cfg: Path, field: str, value: str,
                                                  rule: str) -> None:
    write(cfg, "b.yaml", f"coupons:\n  - code: X\n    discount: {{percent: 5}}\n"
          f"    {field}: {value}\n")
    (message,) = problems(cfg)
    assert f"coupons[0].{field}" in message and rule in message


@pytest.mark.parametrize(("custom", "rule"), [
    ("{score: .nan}", "custom.score: nan is not a number that can be stored"),
    ("{score: .inf}", "custom.score: inf is not a number that can be stored"),
    ("{big: 123456789012345678901234567890}", "custom.big: 1234567890"),
])
def test_custom_values_must_be_storable(cfg: Path, custom: str, rule: str) -> None:
    write(cfg, "b.yaml", f"users:\n  - email: ada@example.com\n    custom: {custom}\n")
    (message,) = problems(cfg)
    assert "users[0].custom" in message and rule in message


def test_credits_beyond_any_number_are_refused(cfg: Path) -> None:
    write(cfg, "b.yaml", "courses:\n  - key: big\n    title: Big\n    credits: 1e400\n")
    (message,) = problems(cfg)
    assert "courses[0].credits" in message


def test_an_unreadable_manifest_is_named_not_a_crash(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(cfg, "b.yaml", "groups: []\n")
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "b.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    (message,) = problems(cfg)
    assert message.endswith("b.yaml:0:0: error: cannot read this manifest: Permission denied")


def test_manifests_with_upper_case_extensions_are_read(cfg: Path) -> None:
    write(cfg, "b.YAML", "groups:\n  - name: Upper\n")
    write(cfg, "c.Yml", "groups:\n  - name: Mixed\n")
    resources = load_config(cfg).resources
    assert {"group.Upper", "group.Mixed"} <= resources.keys()


@pytest.mark.parametrize(("first", "second"), [
    ("region: Nordics", "region: nordics"),
    ("region: Caf\u00e9", "region: Cafe\u0301"),
])
def test_names_an_lms_treats_as_equal_are_duplicates(cfg: Path, first: str,
                                                     second: str) -> None:
    write(cfg, "b.yaml", f"hierarchy:\n  - {first}\n  - {second}\n")
    (message,) = problems(cfg)
    assert "b.yaml:3:5: error: hierarchy[1]: duplicate region" in message
    assert "to an LMS, which ignores case and Unicode normalisation" in message


def test_emails_in_nfc_and_nfd_are_the_same_user(cfg: Path) -> None:
    write(cfg, "b.yaml", "users:\n  - email: caf\u00e9@example.com\n"
          "  - email: cafe\u0301@example.com\n")
    (message,) = problems(cfg)
    assert "users[1]: duplicate user" in message


def test_a_file_that_is_not_a_manifest_is_named_not_quoted(cfg: Path) -> None:
    write(cfg, "passwd.yaml", "root: x:0:0:root:/root:/bin/bash\nsecret_token: hunter2\n")
    (message,) = problems(cfg)
    assert "passwd.yaml:1:1: error: not an lmsform manifest" in message
    assert "root" not in message.split("error:", 1)[1] and "hunter2" not in message


def test_references_are_checked_in_the_same_pass_as_each_file(cfg: Path) -> None:
    write(cfg, "b.yaml", "groups:\n  - name: Leads\n    colour: red\n")
    write(cfg, "c.yaml", "users:\n  - email: ada@example.com\n    groups: [Manegers]\n"
          "    department: EMEA/Ops/Finanse\n")
    messages = problems(cfg)
    assert len(messages) == 3
    assert "b.yaml:3:5: error: groups[0].colour: unknown field 'colour'" in messages[0]
    assert messages[1].endswith("c.yaml:3:14: error: users[0].groups[0]: unknown group "
                                "'Manegers' (did you mean 'Managers'?)")
    assert messages[2].endswith("c.yaml:4:17: error: users[0].department: unknown "
                                "department 'EMEA/Ops/Finanse' (did you mean 'EMEA/Ops/Finance'?)")


def test_an_invalid_entry_hides_no_error_but_invents_none(cfg: Path) -> None:
    # Leads is invalid (its own error); a reference to it is not reported as unknown too
    write(cfg, "b.yaml", "groups:\n  - name: Leads\n    colour: red\n"
          "users:\n  - email: ada@example.com\n    groups: [Leads]\n")
    (message,) = problems(cfg)
    assert "groups[0].colour: unknown field" in message


def test_unknown_fields_and_sections_suggest_the_nearest_name(cfg: Path) -> None:
    write(cfg, "b.yaml", "user:\n  - email: ada@example.com\n"
          "groups:\n  - name: Leads\n    descripton: x\n")
    messages = problems(cfg)
    assert any(m.endswith("b.yaml:1:1: error: user: unknown section 'user' (did you mean "
                          "'users'?)") for m in messages)
    assert any(m.endswith("groups[0].descripton: unknown field 'descripton' (did you mean "
                          "'description'?)") for m in messages)


def test_a_tab_in_indentation_is_named(cfg: Path) -> None:
    (cfg / "b.yaml").write_text("groups:\n\t- name: Leads\n")
    (message,) = problems(cfg)
    assert message.endswith("b.yaml:2:1: error: a tab in the indentation of this line: YAML "
                            "indents with spaces only")


def test_an_unknown_kind_in_an_address_suggests_the_nearest(cfg: Path) -> None:
    write(cfg, "b.yaml", "moved:\n  - {from: usr.old@example.com, to: user.new@example.com}\n")
    messages = problems(cfg)
    assert any("moved[0].from: 'usr.old@example.com' is not a resource address (did you mean "
               "'user.old@example.com'?)" in m for m in messages)


def users_yaml(count: int, broken: int | None = None) -> str:
    lines = ["users:"]
    for i in range(count):
        email = "not-an-email" if i == broken else f"u{i}@example.com"
        lines += [f"  - email: {email}", "    groups: [Managers]"]
    return "\n".join(lines) + "\n"


def test_a_long_list_is_read_a_run_at_a_time_with_the_same_result(
        cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(cfg, "users.yaml", users_yaml(60))
    whole = load_config(cfg)
    monkeypatch.setattr("lmsform.yamlfile.fast.PIECE_BYTES", 100)  # runs of a few users
    in_runs = load_config(cfg)
    assert list(in_runs.resources) == list(whole.resources)
    assert [r.origin for r in in_runs.resources.values()] == \
        [r.origin for r in whole.resources.values()]
    name, loc = in_runs.resources["user.u59@example.com"].origin or ("", ())
    assert name.endswith("users.yaml") and loc == ("users", 59)


def test_an_error_in_a_later_run_names_its_own_line(
        cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(cfg, "users.yaml", users_yaml(60, broken=47))
    monkeypatch.setattr("lmsform.yamlfile.fast.PIECE_BYTES", 100)
    (problem,) = problems(cfg)
    assert "users.yaml:96:12: error: users[47].email:" in problem, problem


def test_a_later_run_that_does_not_parse_is_reported_once_where_it_breaks(
        cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = users_yaml(60, broken=3).replace("  - email: u50@", "  - email: [u50@")
    write(cfg, "users.yaml", text)
    monkeypatch.setattr("lmsform.yamlfile.fast.PIECE_BYTES", 100)
    found = problems(cfg)
    assert len(found) == 1, found  # the bad email before the break is not said twice
    assert "users.yaml:103:11: error: invalid YAML" in found[0], found


def test_positions_are_found_after_the_files_are_let_go(cfg: Path) -> None:
    config = load_config(cfg)
    assert all(f._raw is None for f in config.files.values())  # not carried through a plan
    where = config.where(config.resources["group.Managers"], "name")
    assert where.endswith("a.yaml:11:11"), where


def test_a_misspelt_section_alone_in_its_file_is_named(cfg: Path) -> None:
    write(cfg, "b.yaml", "userz:\n  - email: ada@example.com\n")
    assert [m.split("error: ")[1] for m in problems(cfg)] == [
        "userz: unknown section 'userz' (did you mean 'users'?)"]


def test_did_you_mean_offers_only_names_of_that_place(cfg: Path) -> None:
    write(cfg, "b.yaml", "users:\n  - email: ada@example.com\n    titel: Dr\n"
          "    descripton: x\nsettings:\n  users: true\n  prunee: true\n")
    messages = [m.split("error: ")[1] for m in problems(cfg)]
    # course titles and group descriptions are not a user's fields; a section is no setting
    assert "users[0].titel: unknown field 'titel'" in messages
    assert "users[0].descripton: unknown field 'descripton'" in messages
    assert "settings.users: unknown field 'users'" in messages
    assert "settings.prunee: unknown field 'prunee' (did you mean 'prune'?)" in messages


def test_field_errors_and_reference_errors_are_reported_together(cfg: Path) -> None:
    write(cfg, "b.yaml", "groups:\n  - name: Leads\n    descripton: x\n"
          "users:\n  - email: ada@example.com\n    shoe_size: 44\n"
          "    groups: [Leeds, Leads]\n    department: Nowhere/X/Y\n")
    messages = [m.split("error: ")[1] for m in problems(cfg)]
    assert messages == [
        "groups[0].descripton: unknown field 'descripton' (did you mean 'description'?)",
        "users[0].shoe_size: unknown field 'shoe_size'",
        "users[0].groups[0]: unknown group 'Leeds' (did you mean 'Leads'?)",
        "users[0].department: unknown department 'Nowhere/X/Y' (write it as "
        "Region/Division/Department, as declared under hierarchy:)"]


def test_a_file_that_is_not_a_manifest_hides_no_other_error(cfg: Path) -> None:
    write(cfg, "b.yaml", "- just\n- a list\n")
    write(cfg, "c.yaml", "")
    write(cfg, "d.yaml", "users:\n  - email: ada@example.com\n    groups: [Nobody]\n")
    messages = [m.split("error: ")[1] for m in problems(cfg)]
    assert any(m.startswith("not an lmsform manifest") for m in messages)
    assert "users[0].groups[0]: unknown group 'Nobody'" in messages


@pytest.mark.parametrize(("make", "said"), [
    (lambda d: d / "nope", "the config directory {} does not exist"),
    (lambda d: d / "file.yaml", "the config directory {} is not a directory"),
    (lambda d: d / "empty", "the config directory {} holds no manifests (*.yaml, *.yml)"),
])
def test_a_config_directory_that_is_none_is_a_plain_error(
        tmp_path: Path, make: Any, said: str) -> None:
    (tmp_path / "file.yaml").write_text("users: []\n")
    (tmp_path / "empty").mkdir()
    directory = make(tmp_path)
    with pytest.raises(LmsformError) as raised:
        load_config(directory)
    assert not isinstance(raised.value, ManifestError)
    assert str(raised.value) == said.format(directory)


def test_a_state_block_on_the_command_line_takes_references_as_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lmsform.config import state_block
    # `{` and `}` are syntax in a flow mapping: the reference is still read as one value,
    # and what it expands to is data, never syntax
    monkeypatch.setenv("STATE_DSN", "postgresql://db/x}, backend: file, path: /tmp/evil")
    block = state_block("{backend: postgres, dsn: ${env:STATE_DSN}, name: acme}")
    assert block.backend == "postgres"
    assert block.model_dump()["dsn"].get_secret_value() == \
        "postgresql://db/x}, backend: file, path: /tmp/evil"
    with pytest.raises(LmsformError, match="environment variable NOT_SET_HERE is not set"):
        state_block("{backend: postgres, dsn: ${env:NOT_SET_HERE}, name: acme}")
