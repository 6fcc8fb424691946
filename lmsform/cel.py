"""CEL, the language policies are written in (the Common Expression Language, as Kubernetes
admission policies and cloud IAM conditions use it), through cel-expr-python: the Python
bindings of CEL's own C++ runtime, about a hundred times faster than the pure-Python
implementation on the 100k-user benchmark (`benchmarks/cel_candidates.py`).

A policy sees one variable, which depends on where it is evaluated (`Place`): `resource` (one
declared resource), `all` (every declared resource, by kind) or `change` (one planned
operation). Each is declared to the type checker, so a misspelt variable is an error when
the manifests are loaded, not a silent pass. The standard `strings` and `math` extensions
are on (`lowerAscii`, `split`, `math.greatest`...).

This module knows nothing of lmsform's kinds or plans: it compiles text and evaluates it over
plain JSON-like values, turning the runtime's errors into `CelError` and its results into
Python values.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cel_expr_python.cel as cel


class Place(StrEnum):
    """Where a policy is evaluated, named by the one variable it sees there."""

    RESOURCE = "resource"  # scope: resource, on: desired
    CONFIG = "all"  # scope: config, on: desired
    CHANGE = "change"  # scope: resource, on: change


class CelError(ValueError):
    """An expression that does not compile, with the compiler's messages."""


_NOT_A_VERDICT = {"string", "int", "uint", "double", "bytes", "list", "map", "null_type",
                  "timestamp", "duration"}
_MESSAGE = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")


def _runtime() -> Any:
    """The CEL runtime, loaded on first use: it maps about 11 MB, which a config without
    policies (nearly every plan) never needs."""
    return importlib.import_module("cel_expr_python.cel")


@functools.cache
def _environment(place: Place) -> cel.Env:
    runtime = _runtime()
    types = runtime.Type
    value = types.Map(types.STRING, types.List(types.DYN) if place is Place.CONFIG
                      else types.DYN)
    extensions = [importlib.import_module(f"cel_expr_python.ext.ext_{name}")
                  for name in ("strings", "math")]
    env: cel.Env = runtime.NewEnv(variables={place.value: value}, extensions=[
        extensions[0].ExtStrings(), extensions[1].ExtMath()])
    return env


@dataclass(frozen=True)
class Program:
    """A compiled expression, for one place."""

    place: Place
    compiled: cel.Expression

    def holds(self, value: Any) -> bool:
        """Whether the expression gives `true` for this value: the fast question."""
        return self.compiled.eval(data={self.place.value: value}).value() is True

    def evaluate(self, value: Any) -> Any:
        """The expression's result for this value of the place's variable; `Failed` where
        evaluation failed (a missing field, a type error, a division by zero)."""
        result = self.compiled.eval(data={self.place.value: value})
        if result.type() == _runtime().Type.ERROR:
            return Failed(str(result.value()))
        return result.plain_value()


@dataclass(frozen=True)
class Failed:
    """An evaluation that failed, with the runtime's message."""

    error: str


@functools.lru_cache(maxsize=256)
def compile_expression(expression: str, place: Place, *, verdict: bool = True) -> Program:
    """Compiled and type-checked (once per text and place); CelError says what is wrong,
    by line and column of the expression, as the parser and checker said it. A `verdict`
    must be able to give a boolean: an expression the checker knows gives text or a number
    is refused."""
    try:
        compiled = _environment(place).compile(expression)
    except RuntimeError as exc:
        found = _MESSAGE.findall(str(exc))
        if not found:
            raise CelError(str(exc).strip()) from None
        shown = [_said(message, place) + (f" (line {line}, column {column})"
                                          if "\n" in expression else f" (column {column})")
                 for line, column, message in found]
        raise CelError("; ".join(shown)) from None
    returns = compiled.return_type().name().split("<")[0].lower()
    if verdict and returns in _NOT_A_VERDICT:
        raise CelError(f"gives a value of type {returns}, where a policy must give true "
                       "(complies) or false (violates)")
    return Program(place, compiled)


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@functools.lru_cache(maxsize=256)
def fields_read(expression: str, variable: str,
                through: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The fields of `variable` an expression reads, where its text shows them all
    (`has(resource.role) && resource.email.endsWith(...)`: role, email); None where it may
    read any (the variable used whole, indexed, iterated, or rebound by a macro). Through a
    field named in `through` (a change's `before` and `after`), the fields read are those of
    that map, as `after.role`; compared with null only, it reads none of them.

    The runtime converts a map it is handed whole on first access, so a view holding only what
    is read costs half as much to judge. Deliberately conservative: a mention of the
    variable's name anywhere else (inside a string too) means every field. `x.resource` is a
    field of x, not the variable; `.resource` (CEL's name from the root) is the variable."""
    if "`" in expression:
        return None
    found: set[str] = set()
    for use in re.finditer(rf"(?<!\w){variable}\b", expression):
        if _member_of_something(expression[:use.start()]):
            continue
        member = _MEMBER.match(expression, use.end())
        if member is None:
            return None
        name = member.group(1)
        if name not in through:
            found.add(name)
            continue
        inner = _MEMBER.match(expression, member.end())
        if inner is not None:
            found.add(f"{name}.{inner.group(1)}")
        elif not _NULL_TEST.match(expression, member.end()):
            return None
    return frozenset(found)


_MEMBER = re.compile(rf"\s*\.\s*({_NAME})\b(?!\s*\()")  # `.role`, not `.size()`
_NULL_TEST = re.compile(r"\s*[!=]=\s*null\b")


def _member_of_something(before: str) -> bool:
    """Whether the name that follows `before` is a field (`x.resource`, `f().resource`),
    not a variable (`resource`, `.resource`, `!resource`, `'a' in .resource`)."""
    stripped = before.rstrip()
    if not stripped.endswith("."):
        return False
    ahead = stripped[:-1].rstrip()
    word = re.search(r"\w+$", ahead)
    if word is not None:
        return word.group(0) != "in"  # the one operator CEL spells as a word
    return ahead[-1:] in (")", "]", "}")


def _said(message: str, place: Place) -> str:
    """The compiler's message, with what a policy may refer to where it names something
    unknown."""
    message = message.replace(" (in container '')", "")
    if message.startswith("undeclared reference"):
        message += f" (a policy evaluated here sees `{place.value}`)"
    return message


@functools.lru_cache(maxsize=64)
def _conjunction(expressions: tuple[str, ...], place: Place) -> Program | None:
    try:
        return compile_expression(" && ".join(f"({e}\n)" for e in expressions), place)
    except CelError:
        return None


def conjunction(expressions: list[str], place: Place) -> Program | None:
    """One program that is true where every expression is: judging several policies over a
    resource that complies with them all (nearly every one) costs one call into the runtime
    instead of one per policy. CEL's `&&` is true only where both sides are (an error or a
    non-boolean on either side is not), so `true` here means each expression gave `true`.
    Each expression compiles on its own already (`compile_expression`); None where their
    conjunction does not (it is longer than the runtime takes): then each is asked alone."""
    return _conjunction(tuple(expressions), place)
