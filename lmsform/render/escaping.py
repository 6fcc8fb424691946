"""What a name or a value from the manifests or the LMS looks like in a plan.

Anyone who can open a pull request or edit a record can put text in a plan. Everything
rendered goes through `inert` (every character Python does not call printable shown as an
escape: controls, line breaks, bidirectional marks, and invisible format characters such as
zero-width spaces, so two different names never print the same) and, in Markdown, into code
spans (`code`) or escaped prose (`md_text`), so a reviewer sees exactly one line per
operation and nothing that looks like another operation, a link or an image.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from lmsform.resources import EXACT_NUMBER_KEYS


def inert(text: str) -> str:
    """Bare text (an address, a field, a message) as it is shown: every character that is
    not printable replaced by its escape (`\\n`, `\\u202e`, `\\u200b`), and a backslash
    doubled, so that an escape never reads the same as a name that spells it out. Not
    printable: what could move the cursor, break a line, colour the terminal or reorder what
    is shown, and what shows nothing at all (Unicode's format characters: zero-width spaces
    and joiners, the word joiner, the BOM, the soft hyphen; separators other than the
    space). `str.isprintable` is Unicode's own list of them."""
    if text.isprintable() and "\\" not in text:
        return text  # nearly every name: two checks in C
    return "".join("\\\\" if ch == "\\" else _escape(ch) for ch in text)


def _visible(json_text: str) -> str:
    """JSON text (whose backslashes are escaped already) with what is not printable shown
    as escapes."""
    if json_text.isprintable():
        return json_text
    return "".join(_escape(ch) for ch in json_text)


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch in "\n\r\t":
        return json.dumps(ch)[1:-1]
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def code(text: str) -> str:
    """Markdown code span holding bare `text` literally, also inside a table cell."""
    return _span(inert(text))


def _span(shown: str) -> str:
    """A code span around text already made visible."""
    shown = shown.replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or not shown.strip() else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def value_text(value: Any) -> str:
    """A value as JSON text, made visible."""
    # most values: text quoted in C, without `_json`'s questions, and nearly always printable
    # (a plan creating 100k users renders a million values)
    text = _quote(value) if type(value) is str else _json(value)
    return text if text.isprintable() else _visible(text)


@functools.lru_cache(maxsize=4096)
def field_text(name: str) -> str:
    """A field's name as `inert` shows it: fields are few, and named in every line of a plan
    that creates 100k users."""
    return inert(name)


DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring


def _json(value: Any) -> str:
    """JSON text, with the exact decimals a plan keeps as text (an amount, a percent: the
    JSON plan keeps their spelling) shown to the reader as the numbers they are."""
    if isinstance(value, dict):
        return "{" + ", ".join(
            f"{_encode(key)}: "
            + (item if key in EXACT_NUMBER_KEYS and isinstance(item, str)
               and DECIMAL_TEXT.fullmatch(item) else _json(item))
            for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join([_quote(item) if type(item) is str else _json(item)
                                for item in value]) + "]"
    return _encode(value)


def md_value(value: Any) -> str:
    return "_none_" if value is None else _span(value_text(value))


def md_text(text: str) -> str:
    """Prose for Markdown: every ASCII punctuation mark escaped, so nothing becomes markup."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", inert(text))
