"""The syntax of a reference in a manifest (`${env:NAME}`, `${var:NAME}`, with a `:-default`;
`$${` for a literal `${`), for the modules that expand references and those that report what
holds one."""

from __future__ import annotations

import re

# `$${` (an escaped `${`), a reference with an optional default (which holds no `${` nor
# `}`), or any other `${`, which is malformed.
ENV_RE = re.compile(
    r"\$\$\{"
    r"|\$\{(?:(?P<source>env|var):(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?::-(?P<default>(?:[^$}]|\$(?!\{))*))?\})?"
)


# Every way a `${` can be written in UTF-8 YAML: as itself, or through the escapes of a
# double-quoted scalar (`\x24{`, `$\x7b`, `\u0024{`, a `$\` line continuation). A file
# holding none of them holds no reference, and is read without walking its values.
ESCAPED_DOLLAR = re.compile(rb"\\(?:x24|u0024|U00000024)")
