"""The plan: ordered operations that would make the LMS match the manifests.

A Plan is a pydantic model, so its JSON form (`plan --json`, `plan --out FILE`) is documented
by the model itself (`docs/plan-json.md`). It renders itself as text for terminals, and as
Markdown for pull-request comments. It never holds a secret: write-only fields appear only as
the marker "(sensitive)".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel, Field, ValidationError

from lmsform import __version__
from lmsform.diff import Change
from lmsform.errors import LmsformError
from lmsform.manifest import KINDS
from lmsform.state import atomic_write

FORMAT_VERSION = 1

Action = Literal[
    "create", "update", "replace", "delete", "deactivate", "adopt", "move", "record", "forget"
]
API_ACTIONS = frozenset({"create", "update", "replace", "delete", "deactivate"})
REMOVALS = frozenset({"delete", "deactivate", "replace"})
SYMBOLS: dict[str, tuple[str, str]] = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "replace": ("-/+", "magenta"),
    "delete": ("-", "red"),
    "deactivate": ("-", "red"),
    "adopt": ("=", "cyan"),
    "move": ("=", "cyan"),
    "record": ("=", "cyan"),
    "forget": ("=", "cyan"),
}
STATE_ONLY_NOTES = {
    "adopt": "adopt: found in the LMS by its natural key, recorded in state",
    "move": "move: recorded in state under its new address",
    "record": "record: lifecycle settings recorded in state",
    "forget": "forget: no longer in the LMS, dropped from state",
}


class Operation(BaseModel):
    address: str
    kind: str
    action: Action
    id: str | None = Field(None, description="The LMS's id; null for a create")
    changes: list[Change] = Field(default_factory=list)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    moved_from: str | None = None
    reason: str | None = None
    prevent_destroy: bool = False
    depends_on: list[str] = Field(default_factory=list)


class StateRef(BaseModel):
    lineage: str | None = Field(description="null when the plan was made with no state yet")
    serial: int


class Plan(BaseModel):
    """What `lmsform plan` found; applying it runs `operations` in order."""

    format_version: int = FORMAT_VERSION
    lmsform_version: str = __version__
    summary: dict[str, int] = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list)
    unmanaged: dict[str, int] = Field(default_factory=dict)
    blocked: list[str] = Field(
        default_factory=list, description="Safety limits this plan exceeds: apply needs --force"
    )
    warnings: list[str] = Field(default_factory=list)
    state: StateRef | None = None
    provider: dict[str, str] = Field(default_factory=dict)
    config_dir: str | None = None
    targets: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    known_ids: dict[str, str] = Field(
        default_factory=dict, description="LMS ids of the resources operations refer to"
    )

    def model_post_init(self, context: Any) -> None:
        if not self.summary:
            self.summary = {action: 0 for action in Action.__args__}
            for op in self.operations:
                self.summary[op.action] += 1

    @property
    def has_changes(self) -> bool:
        return bool(self.operations)

    # files

    def save(self, path: Path) -> None:
        atomic_write(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            plan = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise LmsformError(f"no plan file {path}") from None
        except (ValidationError, ValueError) as exc:
            raise LmsformError(f"{path} is not an lmsform plan: {exc}") from None
        if plan.format_version != FORMAT_VERSION:
            raise LmsformError(f"{path} has plan format {plan.format_version}; "
                               f"this lmsform reads {FORMAT_VERSION}")
        return plan

    # rendering

    def closing_line(self) -> str:
        """`Plan: 3 to create, 2 to update, 1 to delete, 4 to adopt.`, plus any rarer actions."""
        s = self.summary
        always = {"create", "update", "delete", "adopt"}
        parts = [f"{s[a]} to {a}" for a in Action.__args__ if a in always or s[a]]
        return f"Plan: {', '.join(parts)}."

    def unmanaged_line(self) -> str | None:
        counts = [f"{n} {kind}{'s' if n != 1 else ''}"
                  for kind, n in self.unmanaged.items() if n]
        if not counts:
            return None
        return ("Unmanaged (in the LMS, in neither the manifests nor the state; left alone): "
                + ", ".join(counts) + ".")

    def render_text(self) -> str:
        """Terraform-style text; colour codes are stripped by click.echo off a TTY."""
        lines: list[str] = []
        if not self.operations:
            lines.append("No changes. The LMS matches the manifests.")
        else:
            lines.append("lmsform will perform these operations, in this order:")
            lines.append("")
            for op in self.operations:
                lines.extend(_text_operation(op))
            lines.append("")
            lines.append(click.style(self.closing_line(), bold=True))
        unmanaged = self.unmanaged_line()
        if unmanaged:
            lines.append(unmanaged)
        lines.extend(click.style(f"warning: {w}", fg="yellow") for w in self.warnings)
        lines.extend(click.style(f"blocked: {b}", fg="red", bold=True) for b in self.blocked)
        return "\n".join(lines)

    def render_markdown(self) -> str:
        """For pull-request comments: a summary, then one table row per operation."""
        lines = ["### lmsform plan", ""]
        if not self.operations:
            lines.append("**No changes.** The LMS matches the manifests.")
        else:
            lines.append(f"**{self.closing_line()}**")
            lines += ["", "| | Address | Action | Changes |", "|---|---|---|---|"]
            for op in self.operations:
                symbol = SYMBOLS[op.action][0]
                changes = "<br>".join(
                    f"`{c.field}`: {_md(c.before)} → {_md(c.after)}" for c in op.changes
                )
                note = f" (from `{op.moved_from}`)" if op.moved_from else ""
                lines.append(f"| `{symbol}` | `{op.address}`{note} | {op.action} | {changes} |")
        unmanaged = self.unmanaged_line()
        if unmanaged:
            lines += ["", unmanaged]
        lines += [f"> **Warning:** {w}" for w in self.warnings]
        lines += [f"> **Blocked:** {b}" for b in self.blocked]
        return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _md(value: Any) -> str:
    return "_none_" if value is None else f"`{_value(value)}`".replace("|", "\\|")


def _text_operation(op: Operation) -> list[str]:
    symbol, colour = SYMBOLS[op.action]
    head = f"  {symbol} {op.address}"
    notes = []
    if op.moved_from:
        notes.append(f"moved from {op.moved_from}")
    if op.action in STATE_ONLY_NOTES:
        notes.append(STATE_ONLY_NOTES[op.action])
    elif op.action == "deactivate":
        notes.append("deactivate")
    if op.reason:
        notes.append(op.reason)
    if notes:
        head += f" ({'; '.join(notes)})"
    lines = [click.style(head, fg=colour)]
    if op.action == "create" and op.after:
        lines += [f"      {k}: {_value(v)}" for k, v in op.after.items()]
    for change in op.changes:
        lines.append(f"      {change.field}: {_value(change.before)} -> {_value(change.after)}")
    return lines


def kind_rank(kind: str) -> int:
    return KINDS.index(kind)
