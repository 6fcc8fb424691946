"""lmsform reads YAML as the YAML 1.2 specification says, checked on the official YAML test
suite (its data, in tests/yaml_suite: see the README there).

Every case runs through both of lmsform's readers: the full loader (`load_full`, ruamel.yaml
over libyaml, with lmsform's guards) and the fast path (`_fast_load`, rapidyaml and JSON),
and `load`, which is the one or the other.

- A case the suite marks as an error is refused with a YamlSyntaxError by the full loader,
  and the fast path steps aside for it: never accepted, never another exception.
- A valid case reads as its in.json, exactly (a number is not a boolean, 1 is not 1.0), by
  both readers, unless DEVIATIONS below names it.
- A case DEVIATIONS names is refused by the full loader with a position, for the reason the
  table gives. The fast path steps aside for it, or reads it as its in.json: where libyaml
  cannot read valid YAML and rapidyaml can, the fast path's reading stands; it is never
  another reading than YAML's.

No case is skipped. A stream of no document reads as None (in.json is then empty).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsform.yamlfile import YamlFile, YamlSyntaxError, _fast_load

SUITE = Path(__file__).parent / "yaml_suite"
CASES = sorted(str(p.parent.relative_to(SUITE)) for p in SUITE.rglob("in.yaml"))

# Why lmsform refuses a valid YAML document. A manifest is one mapping whose keys are text
# and whose values are text, numbers, booleans, nulls, dates, lists and mappings: what else
# YAML can say is refused rather than read as something JSON cannot hold.
STREAM = ("several documents in one stream (or a bare document after `...`): a manifest is "
          "one document, and the full loader refuses a second with its position")
NO_DOCUMENT = ("a stream holding only `...`: libyaml refuses it where YAML reads no "
               "document; an empty file reads as None")
DIRECTIVE = ("a reserved directive (%FOO) or %YAML 1.3, which YAML says to ignore or read "
             "with a warning: libyaml refuses them")
TAG = ("a tag lmsform does not read: a local or global tag, !!binary, !!set or !!omap (read "
       "by ruamel.yaml as bytes, sets and tuples, which are no JSON), or the non-specific `!`"
       " (which libyaml resolves as if untagged: `! 12` would read as 12, not '12')")
COMPLEX_KEY = ("a list or mapping as a key: JSON's keys are text (ruamel.yaml read them as "
               "tuples, or crashed)")
NULL_KEY = ("an empty or null key: JSON's keys are text (ruamel.yaml read `~:` as 'None'); "
            "libyaml refuses most such keys itself")
ANCHOR = ("an anchor defined twice, or named with characters other than letters, digits, - "
          "and _: libyaml refuses the one and cuts the other short (`&an:chor value` read "
          "as ':chor value'), so lmsform refuses both")
TAB = ("a tab where YAML takes it as white space (before text, on an empty line, after an "
       "indicator): libyaml refuses it, and lmsform says that YAML indents with spaces")
FLOW = ("a flow collection libyaml cannot read (`:` with no space after it, a key over two "
        "lines, `?` starting or inside a text, a plain URL): refused where libyaml says; "
        "`?x` libyaml would read as a key, so lmsform refuses it")
BLOCK_AT_ZERO = ("a top-level block scalar whose text starts at column 0 after `--- >`: "
                 "libyaml refuses it")

DEVIATIONS: dict[str, str] = {
    **dict.fromkeys(["35KP", "5TYM", "6WLZ", "6XDY", "6ZKB", "7Z25", "9DXL", "9KAX", "9WXW",
                     "JHB9", "KSS4", "L383", "M7A3", "PUW8", "RZT7", "U9NS", "UT92", "W4TN"],
                    STREAM),
    **dict.fromkeys(["HWV9", "QT73"], NO_DOCUMENT),
    **dict.fromkeys(["2LFX", "6LVF", "BEC7", "MUS6/05", "MUS6/06"], DIRECTIVE),
    **dict.fromkeys(["2XXW", "565N", "J7PZ", "6CK3", "7FWL", "C4HZ", "CC74", "CUP7", "M5C3",
                     "P76L", "UGM3", "Z67P", "Z9M4", "52DL", "8MK2", "S4JQ", "UKK6/02"], TAG),
    **dict.fromkeys(["4FJ6", "6BFJ", "6PBE", "9MMW", "KK5P", "LX3P", "M2N8/01", "M5DY",
                     "Q9WF", "RZP5", "SBG9", "V9D5", "X38W", "XW4D"], COMPLEX_KEY),
    **dict.fromkeys(["2JQS", "6M2F", "CFD4", "DFF7", "FH7J", "FRK4", "M2N8/00", "NHX8",
                     "NKF9", "S3PD", "SM9W/01", "UKK6/00"], NULL_KEY),
    **dict.fromkeys(["2SXE", "3GZX", "8XYN", "PW8X", "W5VH", "Y2GN"], ANCHOR),
    **dict.fromkeys(["6BCT", "6CA3", "96NN/00", "96NN/01", "A2M4", "DK95/00", "DK95/03",
                     "DK95/04", "Q5MG", "R4YG", "Y79Y/001", "Y79Y/010"], TAB),
    **dict.fromkeys(["4ABK", "4MUZ/00", "4MUZ/01", "4MUZ/02", "58MP", "5MUD", "5T43", "652Z",
                     "9SA2", "DBG4", "HM87/00", "HM87/01", "JR7V", "K3WX", "NJ66", "UDM2",
                     "VJP3/01", "WZ62"], FLOW),
    **dict.fromkeys(["DK3J", "FP8R"], BLOCK_AT_ZERO),
}


def documents(path: Path) -> list[Any]:
    """The JSON documents of an in.json, one after the other."""
    text, decoder, found, at = path.read_text(encoding="utf-8"), json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def exact(value: Any) -> str:
    """A form in which 1, 1.0 and True differ (and key order does not matter)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def refused(path: Path, read: Any) -> YamlSyntaxError:
    with pytest.raises(YamlSyntaxError) as caught:
        read()
    lines = max(1, len(path.read_bytes().splitlines()) + 1)
    assert 1 <= caught.value.position.line <= lines and caught.value.position.column >= 1
    return caught.value


@pytest.mark.parametrize("case", CASES)
def test_the_case_reads_as_yaml_says(case: str) -> None:
    directory = SUITE / case
    path, title = directory / "in.yaml", (directory / "===").read_text().strip()
    fast = _fast_load(path.read_bytes())
    if (directory / "error").exists():
        assert case not in DEVIATIONS
        assert fast is None, f"{title}: the fast path read invalid YAML"
        refused(path, YamlFile(path).load_full)
        refused(path, YamlFile(path).load)
        return
    expected = documents(directory / "in.json") if (directory / "in.json").exists() else None
    if case in DEVIATIONS:
        refused(path, YamlFile(path).load_full)
        if fast is None:
            refused(path, YamlFile(path).load)
        else:  # libyaml cannot read it, rapidyaml can: as YAML says, or not at all
            assert expected is not None and len(expected) == 1, title
            assert exact(fast) == exact(expected[0]), title
        return
    assert expected is not None and len(expected) <= 1, \
        f"{title}: valid YAML lmsform reads without saying how: add it to DEVIATIONS"
    want = exact(expected[0] if expected else None)
    assert exact(YamlFile(path).load_full()) == want, title
    assert exact(YamlFile(path).load()) == want, title
    assert fast is None or exact(fast) == want, title


def test_the_table_names_valid_cases_of_the_suite() -> None:
    assert set(DEVIATIONS) <= set(CASES)
    assert not [case for case in DEVIATIONS if (SUITE / case / "error").exists()]
