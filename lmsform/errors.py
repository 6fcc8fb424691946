"""Error types the CLI turns into clear one-line messages (no tracebacks unless --debug)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class LmsformError(Exception):
    """Base for every error the user is meant to read; the CLI prints its message and exits 1."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the manifests, pinned to a place in a file."""

    file: str
    line: int
    column: int
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        kind = "warning" if self.warning else "error"
        field = f" {self.path}:" if self.path else ""
        return f"{where}: {kind}:{field} {self.message}"


class ManifestError(LmsformError):
    """All the errors found in a set of manifests, reported together."""

    def __init__(self, problems: list[Problem], partial: object = None) -> None:
        self.problems = sorted(problems)
        # the config as far as it is valid, for checks that belong to a later stage (what
        # the provider supports), so that one run reports every error
        self.partial = partial
        count = sum(not p.warning for p in self.problems)
        lines = [str(p) for p in self.problems]
        plural = "s" if count != 1 else ""
        lines.append(f"{count} error{plural} in the manifests; nothing was contacted or changed.")
        super().__init__("\n".join(lines))


class PlanError(LmsformError):
    """The manifests are valid but cannot be reconciled with this provider or this state.

    `problems` point into the manifests and read like any manifest error; `messages` concern
    what has no place in them (a resource removed from the manifests). One count line ends
    the report."""

    def __init__(self, messages: list[str], problems: Sequence[Problem] = (), *,
                 contacted: bool = True, hint: str = "") -> None:
        self.messages = messages
        self.problems = sorted(problems)
        self.hint = hint  # what to do about all of them, said once after the count
        lines = [str(p) for p in self.problems] + [f"error: {m}" for m in messages]
        count = len(lines)
        done = "nothing was changed" if contacted else "nothing was contacted or changed"
        lines += [hint] if hint else []
        lines.append(f"{count} error{'s' if count != 1 else ''}; {done}.")
        super().__init__("\n".join(lines))


class ProviderError(LmsformError):
    """A call to the LMS failed; carries the call and the vendor's own message."""

    def __init__(self, call: str, message: str, *, status: int | None = None) -> None:
        self.call = call
        self.vendor_message = message
        self.status = status
        super().__init__(f"{call}: {message}")


class StateLockedError(LmsformError):
    """Another lmsform process holds the state lock."""


def reason(exc: OSError) -> str:
    """What the machine said of a failed file operation, in its words (`Permission denied`);
    what the error says, or its type, where it gives no such words."""
    return exc.strerror or str(exc) or type(exc).__name__


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
