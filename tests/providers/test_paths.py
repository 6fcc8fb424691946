"""Every URL path a provider builds puts what it did not write itself through `segment()`:
a name, an email or an id the LMS sent is data, and must never end the path, start a query or
climb a level (`a#b@example.com`, `../x`). The providers' tests show it for the names they
meet; this one holds every path of every provider module to it, so that the next path
written without it fails here rather than on someone's email."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).parent.parent.parent / "lmsform" / "providers"
# every module, a vendor's package's modules too
PROVIDERS = sorted(HERE.rglob("*.py"))
# What a path may hold besides `segment(...)`: the provider's own prefixes (also as its kinds'
# handlers reach them) and URL segments, and its helpers that return paths built with
# segment() themselves.
PREFIXES = {"self.root", "self.lms.root", "path", "API_PREFIX", "self.path", "self.collection"}
PATH_HELPERS = ("segment(", "self.lms._node(")


def _paths(tree: ast.AST) -> list[ast.JoinedStr]:
    """The f-strings that are URL paths: they start with `/`, or with a prefix and `/`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or not node.values:
            continue
        head, *rest = node.values
        starts = isinstance(head, ast.Constant) and str(head.value).startswith("/")
        prefixed = (isinstance(head, ast.FormattedValue) and ast.unparse(head.value) in PREFIXES
                    and bool(rest) and isinstance(rest[0], ast.Constant)
                    and str(rest[0].value).startswith("/"))
        if starts or prefixed:
            found.append(node)
    return found


@pytest.mark.parametrize("module", PROVIDERS,
                         ids=lambda p: p.relative_to(HERE).with_suffix("").as_posix())
def test_every_part_of_a_path_a_provider_did_not_write_is_a_segment(module: Path) -> None:
    unsafe = [
        f"{module.name}:{path.lineno}: {{{ast.unparse(part.value)}}}"
        for path in _paths(ast.parse(module.read_text()))
        for part in path.values
        if isinstance(part, ast.FormattedValue)
        and ast.unparse(part.value) not in PREFIXES
        and not ast.unparse(part.value).startswith(PATH_HELPERS)
    ]
    assert not unsafe, "write these through segment(): " + ", ".join(unsafe)
