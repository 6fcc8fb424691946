"""The fast path of manifest reading (rapidyaml and JSON) gives exactly what the full
ruamel.yaml loader gives, or steps aside: compared on generated manifests full of the
constructs where YAML and JSON could disagree, and on every example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsform.yamlfile import Position, YamlFile, YamlSyntaxError, _fast_load

ROOT = Path(__file__).parent.parent.parent
# Spellings where a plain scalar's type is in question: numbers that do or do not read back,
# YAML 1.2 booleans and nulls in every case, dates real and impossible, timestamps, hex,
# underscores, special floats, and ordinary text.
ORDINARY = ["12", "0", "-0", "0001", "1.50", "1.5", "1.0", "1e3", "1E+3", "-3.5", "true",
            "false", "null", "yes", "no", "on", "2027-12-31", "2027-02-30", "abc",
            "Ada Lovelace", "é café", "it's", "a-b_c", "security-101", "EMEA/Sales", "49.00",
            "100", "3.14159", ""]
TRICKY = ["+12", ".5", "1.", "nan", "inf", "-inf", "infinity", "@x", "`x", "=", "x\u2028y",
          "x\u0085y", "True", "FALSE", "Null", "~", "2027-12-31 10:00:00",
          "2027-12-31T10:00:00Z", "0x1F", "0o17", "1_000", ".inf", "-.inf", ".nan"]
KEYS = ["email", "first_name", "amount", "key", "users", "x y", "1", "2.5", "true", "null"]


def scalar(token: str, style: str) -> str:
    if style == "double":
        return json.dumps(token, ensure_ascii=False)
    if style == "single":
        return "'" + token.replace("'", "''") + "'"
    return token if token else "''"


# mostly what the fast path reads, so that it is taken and compared; sometimes what it must
# step aside for
tokens = st.one_of(*[st.sampled_from(ORDINARY)] * 6, st.sampled_from(TRICKY))
styles = st.sampled_from(["plain", "plain", "double", "single"])
scalars = st.builds(scalar, tokens, styles)


def block(data: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, (kind, value) in data:
        head = f"{pad}{key}:"
        if kind == "scalar":
            lines.append(f"{head} {value}")
        elif kind == "flow":
            lines.append(f"{head} [{', '.join(value)}]")
        elif kind == "list":
            lines.append(head)
            lines += [f"{pad}  - {item}" for item in value]
        elif kind == "text":
            lines += [f"{head} |", *(f"{pad}  {line}" for line in value)]
        else:
            lines.append(head)
            lines += block(value, indent + 2)
    return lines


keys = st.one_of(*[st.sampled_from(KEYS[:6])] * 6, st.sampled_from(KEYS[6:])).map(
    lambda k: k if k != "x y" else '"x y"')
leaves = st.one_of(
    st.tuples(st.just("scalar"), scalars),
    st.tuples(st.just("flow"), st.lists(scalars, max_size=4)),
    st.tuples(st.just("list"), st.lists(scalars, min_size=1, max_size=4)),
    st.tuples(st.just("text"), st.lists(st.sampled_from(["line one", "  indented", "a: b",
                                                         "# not a comment"]), min_size=1,
                                        max_size=3)),
)
mappings = st.recursive(
    st.lists(st.tuples(keys, leaves), min_size=1, max_size=3),
    lambda inner: st.lists(st.tuples(keys, st.tuples(st.just("map"), inner)), min_size=1,
                           max_size=2),
    max_leaves=6)
extras = st.one_of(*[st.sampled_from(["", "# a comment\n"])] * 4, st.sampled_from([
    "anchor: &a [1, 2]\nalias: *a\n", "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
    "tag: !!str 12\n", "\t\n"]))


def full(path: Path) -> Any:
    try:
        return YamlFile(path).load_full()
    except YamlSyntaxError:
        return "error"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(document=mappings, extra=extras)
def test_the_fast_path_gives_what_the_full_loader_gives_or_steps_aside(
        tmp_path: Path, document: Any, extra: str) -> None:
    text = extra + "\n".join(block(document, 0)) + "\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    fast = _fast_load(path.read_bytes())
    expected = full(path)
    if fast is not None:
        assert expected != "error", text  # a file the full loader refuses is never read fast
        assert fast == expected, text
        assert _fast_load(path.read_bytes(), piece_bytes=8) == fast, text  # read in pieces
        assert json.dumps(fast, sort_keys=True) == json.dumps(expected, sort_keys=True)
    if "&" in extra or "<<" in extra or "!!" in extra or "\t" in extra:
        assert fast is None


# CEL's `!`, `&&` and `*` are the characters of YAML's tags, anchors and aliases, which the
# fast path steps aside for wherever they are: a file of policies (small) is read in full
POLICIES = {p for p in ROOT.glob("examples/**/*.yaml") if p.name == "policies.yaml"}


@pytest.mark.parametrize("path", sorted(set(ROOT.glob("examples/**/*.yaml")) - POLICIES),
                         ids=str)
def test_every_example_is_read_fast_and_the_same(path: Path) -> None:
    fast = _fast_load(path.read_bytes())
    assert fast is not None, "an example the fast path steps aside for: see _not_fast"
    assert fast == YamlFile(path).load_full()


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: [1, 2\n", "a:\n\t- 1\n",
                                  "x: &a [*a]\n", "---\na: 1\n---\nb: 2\n"])
def test_what_needs_a_position_goes_to_the_full_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    assert _fast_load(path.read_bytes()) is None
    with pytest.raises(YamlSyntaxError):
        YamlFile(path).load()


ordinary_leaves = st.one_of(
    st.tuples(st.just("scalar"), st.builds(scalar, st.sampled_from(ORDINARY), styles)),
    st.tuples(st.just("flow"), st.lists(st.builds(scalar, st.sampled_from(ORDINARY), styles),
                                        max_size=4)),
    st.tuples(st.just("list"), st.lists(st.builds(scalar, st.sampled_from(ORDINARY), styles),
                                        min_size=1, max_size=4)),
)
ordinary = st.recursive(
    st.lists(st.tuples(st.sampled_from(KEYS[:5]), ordinary_leaves), min_size=1, max_size=4),
    lambda inner: st.lists(st.tuples(st.sampled_from(KEYS[:5]),
                                     st.tuples(st.just("map"), inner)), min_size=1, max_size=2),
    max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(document=ordinary)
def test_ordinary_manifests_are_read_fast_and_the_same(tmp_path: Path, document: Any) -> None:
    text = "\n".join(block(document, 0)) + "\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    fast = _fast_load(path.read_bytes())
    expected = full(path)
    if expected == "error":  # a key written twice: the full loader's to report
        assert fast is None
        return
    assert fast is not None, text
    assert fast == expected, text
    assert _fast_load(path.read_bytes(), piece_bytes=8) == fast, text  # read in pieces


def users_file(entries: int, indent: str, newline: str = "\n") -> str:
    lines = ["# the organisation's people", "version: 1", "users:  # every one", ""]
    for i in range(entries):
        lines += [f"{indent}- email: u{i}@example.com", f"{indent}  groups: [a, b]",
                  f"{indent}  # note", f"{indent}  description: |", f"{indent}    - not an entry",
                  f"{indent}    line {i}"]
    lines += ["groups:", "- name: a", "- name: b", "courses: []"]
    return newline.join(lines) + newline


@pytest.mark.parametrize("indent", ["", "  "])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_large_file_is_read_in_pieces_the_same(tmp_path: Path, indent: str,
                                                 newline: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_bytes(users_file(40, indent, newline).encode())
    expected = YamlFile(path).load_full()
    for piece_bytes in (1, 50, 300, 10**6):
        assert _fast_load(path.read_bytes(), piece_bytes=piece_bytes) == expected


@pytest.mark.parametrize("text", [
    users_file(20, "  ") + "users:\n- email: again@example.com\n",  # a key written twice
    "users:\n- email: a@example.com\n  groups: [a,\n- b]\n- email: c@example.com\n",
    'users:\n- email: a@example.com\n  job_title: "a\n- b"\n- email: c@example.com\n',
])
def test_pieces_that_do_not_join_go_to_the_full_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    pieces = _fast_load(path.read_bytes(), piece_bytes=1)
    whole = full(path)
    assert pieces is None or pieces == whole
    if whole == "error":
        assert pieces is None


@pytest.mark.parametrize("value", [".5", "-.5", "1.", "+1.5", "01.5", "1.e3", "-01", "1.5e3",
                                   "0.50", "1E3", "-0.0", "2e308", "1_000", "0x1F", "~", "nan",
                                   "inf", "-inf", "infinity", "@x", "`x", "=", '"\\ud83d"',
                                   "x\u2028y", "x\u0085y"])
def test_every_number_spelling_reads_the_same(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"a: {value}\nb: [{value}, x]\n")
    fast = _fast_load(path.read_bytes())
    assert fast is None or fast == YamlFile(path).load_full()


# What YAML 1.2 says of the constructs a manifest may hold, and what lmsform refuses with a
# position rather than read as something else (see also tests/test_yaml_suite.py).

def read(tmp_path: Path, text: str) -> tuple[Any, Any]:
    """What `load` and `load_full` give (the YamlSyntaxError where they refuse the file)."""
    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode("utf-8"))
    results: list[Any] = []
    for how in (YamlFile(path).load, YamlFile(path).load_full):
        try:
            results.append(how())
        except YamlSyntaxError as exc:
            results.append(exc)
    return results[0], results[1]


def refused_at(tmp_path: Path, text: str, line: int, column: int) -> str:
    """Both readers refuse `text` with a YamlSyntaxError at (line, column); its message."""
    for result in read(tmp_path, text):
        assert isinstance(result, YamlSyntaxError), (text, result)
        assert (result.position.line, result.position.column) == (line, column), result.message
    message: str = read(tmp_path, text)[1].message
    return message


@pytest.mark.parametrize(("text", "line", "column"), [
    ("? [a, b]\n: c\n", 1, 3),  # a complex key
    ("[a, b]: c\n", 1, 1),
    ("x: {[a]: b}\n", 1, 5),
    ("? {a: 1}\n: c\n", 1, 3),
    ("x:\n  [[a], b]: c\n", 2, 3),
    # an alias to a list, as a key: its node is the anchored one, placed where it is defined
    ("x: &k [a]\ny:\n  *k : c\n", 1, 4),
])
def test_a_list_or_mapping_as_a_key_is_refused_with_its_position(
        tmp_path: Path, text: str, line: int, column: int) -> None:
    assert "as a key" in refused_at(tmp_path, text, line, column)


@pytest.mark.parametrize(("text", "line", "column"), [
    ("~: x\n", 1, 1), ("null: x\n", 1, 1), ("a: 1\nNULL: x\n", 2, 1),
    ("x: {~: 1}\n", 1, 5), ("x:\n  ? !!null\n  : 1\n", 2, 5),
])
def test_a_null_key_is_refused_with_its_position(tmp_path: Path, text: str, line: int,
                                                 column: int) -> None:
    assert "null key" in refused_at(tmp_path, text, line, column)


@pytest.mark.parametrize("text", [": x\n", "a: 1\n: x\n", "x: [: 1]\n", "- : x\n"])
def test_an_empty_key_is_refused_never_read_as_empty_text(tmp_path: Path, text: str) -> None:
    """YAML reads an empty key as null, rapidyaml as "": the fast path steps aside."""
    path = tmp_path / "m.yaml"
    path.write_text(text)
    assert _fast_load(path.read_bytes()) is None
    assert all(isinstance(r, YamlSyntaxError) for r in read(tmp_path, text))


@pytest.mark.parametrize(("text", "expected"), [
    ("true: x\nFalse: y\n", {"true": "x", "False": "y"}),  # keys are their text, as in JSON
    ("1: a\n1.50: b\n0x1F: c\n2027-12-31: d\n", {"1": "a", "1.50": "b", "0x1F": "c",
                                                 "2027-12-31": "d"}),
    ("&k a: b\nc: *k\n", {"a": "b", "c": "a"}),  # an anchor on a key
    ("a: &v b\n*v : c\n", {"a": "b", "b": "c"}),  # an alias as a key
    ("&n 1: x\nb: *n\n", {"1": "x", "b": 1}),  # the key is text, the alias still a number
    ("a: !!str 12\nb: !!int \"12\"\nc: !<tag:yaml.org,2002:str> 1.50\nd: !!map {x: 1}\n"
     "e: !!seq [x]\nf: !!null\ng: !!bool true\n",
     {"a": "12", "b": 12, "c": "1.50", "d": {"x": 1}, "e": ["x"], "f": None, "g": True}),
    # a float written as an integer, as the export writes amounts: the text, as any number
    # that does not read back as written
    ("amount: !!float 20\nother: !!float 20.5\n", {"amount": "20", "other": 20.5}),
])
def test_keys_anchors_and_core_tags_read_as_yaml_says(tmp_path: Path, text: str,
                                                      expected: Any) -> None:
    assert read(tmp_path, text) == (expected, expected)


def test_a_duplicate_key_names_the_key_and_both_places_never_a_value(tmp_path: Path) -> None:
    message = refused_at(tmp_path, "user: a\npassword: s3cr3t-one\nname: b\n"
                                   "password: s3cr3t-two\n", 4, 1)
    assert 'duplicate key "password"' in message and "line 2, column 1" in message
    assert "s3cr3t" not in message
    message = refused_at(tmp_path, "x:\n  {1: a, \"1\": b}\n", 2, 10)
    assert 'duplicate key "1"' in message and "line 2, column 4" in message


@pytest.mark.parametrize(("text", "tag"), [
    ("a: !foo x\n", "!foo"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),  # ruamel.yaml read bytes
    ("a: !!set {x, y}\n", "!!set"),  # a set, which is no JSON
    ("a: !!omap [x: 1]\n", "!!omap"),  # read as a mapping, where YAML says a list
    ("a: !!pairs [x: 1]\n", "!!pairs"),  # tuples
    ("a: !<tag:example.com,2000:x> y\n", "tag:example.com,2000:x"),
    ("%TAG !e! tag:example.com,2000:\n---\na: !e!x y\n", "tag:example.com,2000:x"),
    ("a: !!merge x\n", "!!merge"),
])
def test_a_tag_lmsform_does_not_read_is_refused_with_its_position(tmp_path: Path, text: str,
                                                                  tag: str) -> None:
    line = text.count("\n") if text.startswith("%") else 1
    assert f"the tag {tag}:" in refused_at(tmp_path, text, line, 4)


@pytest.mark.parametrize("text", ["a: !!int twelve\n", "a: !!float abc\n",
                                  "a: !!bool maybe\n", "a: !!null x\n", "a: !!timestamp x\n",
                                  "!!int abc: x\n"])
def test_a_value_its_tag_does_not_fit_is_refused(tmp_path: Path, text: str) -> None:
    """ruamel.yaml raised ValueError or KeyError for the first three, and read the fourth
    as null."""
    column = 1 if text.startswith("!") else 4
    assert "not written as its tag" in refused_at(tmp_path, text, 1, column)


def test_the_non_specific_tag_is_refused(tmp_path: Path) -> None:
    """YAML 1.2 6.9.1: `! 12` is the text "12"; libyaml resolves it as if untagged (12)."""
    assert "non-specific tag" in refused_at(tmp_path, "a: ! 12\n", 1, 4)


def test_a_comment_needs_white_space_before_it(tmp_path: Path) -> None:
    """YAML 1.2 [130] ns-plain-char: a `#` right after a character of a plain scalar is
    part of it; [77] s-b-comment: a comment is separated from what precedes it by white
    space. So `value#comment` is one text, and `"value"#comment` is invalid (libyaml read
    it as "value" and a comment)."""
    assert read(tmp_path, "key: value#comment\n") == ({"key": "value#comment"},) * 2
    assert read(tmp_path, 'key: "value" #comment\n') == ({"key": "value"},) * 2
    for text, column in [('key: "value"#comment\n', 13), ("key: 'value'#c\n", 13),
                         ("key: [a, b]#c\n", 12), ("key: {a: b}#c\n", 12),
                         ("key: [a,#c\n  b]\n", 9), ("%YAML 1.2#c\n---\nkey: 1\n", 10)]:
        assert "'#' with no space before it" in refused_at(tmp_path, text, 1, column)
    # [162] c-b-block-header ends with s-b-comment: the same rule after `|` or `>`
    assert "indicator" in refused_at(tmp_path, "key: |#c\n  text\n", 1, 7)


def test_a_directive_followed_by_anything_but_a_comment_is_refused(tmp_path: Path) -> None:
    """YAML 1.2 [82] l-directive: the directive, then s-l-comments ([79]): white space and
    a comment at most."""
    refused_at(tmp_path, "%YAML 1.2 junk\n---\nkey: 1\n", 1, 11)
    assert read(tmp_path, "%YAML 1.2 # a comment\n---\nkey: 1\n") == ({"key": 1},) * 2


@pytest.mark.parametrize(("text", "line"), [
    ('key: "a\nb"\n', 2),  # suite QB6E
    ("key: [a,\nb]\n", 2),  # suite 9C9N
    ("key: [\n  a,\n]\n", 3),
    ('key: "a\n\tb"\n', 2),  # a tab is no indentation: suite DK95/01
    ("x:\n  key: {a: 1,\n  b: 2}\n", 3),
    ("- key: 'a\n  b'\n", 2),
])
def test_a_quoted_text_or_flow_collection_goes_on_indented(tmp_path: Path, text: str,
                                                           line: int) -> None:
    """YAML 1.2 [69] s-flow-line-prefix(n): the lines a quoted text or a flow collection
    goes on to are indented more than the key or `-` it belongs to; libyaml took any."""
    assert "indented" in refused_at(tmp_path, text, line, 1)


def test_indented_enough_is_read(tmp_path: Path) -> None:
    text = 'key: "a\n b"\nlist: [a,\n b]\nseq:\n- [c,\n d]\n- key: "e\n   f"\n'
    expected = {"key": "a b", "list": ["a", "b"], "seq": [["c", "d"], {"key": "e f"}]}
    assert read(tmp_path, text) == (expected, expected)


@pytest.mark.parametrize(("text", "line", "column"), [
    ("a: [-]\n", 1, 5), ("a: [x, -]\n", 1, 8), ("a: {x: -}\n", 1, 8),  # [126] ns-plain-first
    ("a: >\n \n  \n   \n # text\n", 4, 1),  # 8.1.1.1: a leading empty line too long
    ("a: &an:chor value\n", 1, 4),  # an anchor libyaml cut at the colon
])
def test_what_libyaml_reads_otherwise_is_refused(tmp_path: Path, text: str, line: int,
                                                 column: int) -> None:
    refused_at(tmp_path, text, line, column)


def test_text_starting_with_a_question_mark_in_a_flow_collection(tmp_path: Path) -> None:
    """YAML 1.2 [126]: `?x` is a plain text; libyaml read it as the key x. The full loader
    refuses it; the fast path reads it as YAML says."""
    fast, full = read(tmp_path, "a: [?x]\n")
    assert fast == {"a": ["?x"]}
    assert isinstance(full, YamlSyntaxError) and full.position == Position(1, 5)


def test_a_last_line_of_spaces_without_a_line_break(tmp_path: Path) -> None:
    """libyaml lost a block scalar's last line when it held only spaces and no line break
    ended the file (suite cases L24T and JEF9)."""
    assert read(tmp_path, "foo: |\n  x\n   ") == ({"foo": "x\n \n"},) * 2
    assert read(tmp_path, "- |+\n   ") == (["\n"],) * 2


@pytest.mark.parametrize("text", [
    "password: s3cr3t\npassword: s3cr3t\n",  # ruamel quoted both values
    "a: !!int s3cr3t\n", "a: !!float s3cr3t\n", "a: !!bool s3cr3t\n", "a: !!null s3cr3t\n",
    "a: !!timestamp s3cr3t\n",  # ruamel: failed to construct timestamp from "..."
    "a: !!binary s3cr3t\n",  # ruamel: failed to decode base64 data: ...
    "a: !!set {s3cr3t, s3cr3t}\n",  # ruamel: found duplicate key "..."
    "{[s3cr3t]: 1, [s3cr3t]: 2}\n",  # ruamel: duplicate key "('...',)" with value "..."
    "a: &x s3cr3t\nb: &x s3cr3t\n", "base: &b s3cr3t\nm:\n  <<: *b\n",
    'a: "s3cr3t\\q"\n', "a: 's3cr3t\n", "a: s3cr3t: b\n", 'a: "s3cr3t"#c\n', "a: [s3cr3t,\n",
])
def test_no_yaml_error_quotes_a_value(tmp_path: Path, text: str) -> None:
    for result in read(tmp_path, text):
        assert isinstance(result, YamlSyntaxError), text
        assert "s3cr3t" not in result.message, result.message
