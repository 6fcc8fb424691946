"""Policies: an organisation's rules, written in CEL in the manifests (`policies:`), judged on
every `validate` and every plan (docs/policies.md).

A policy judges each declared resource of its kinds (`resource`), the whole config at once
(`all`), or each planned operation (`change`). Every value reaches CEL as the JSON plan shows
it, with its type: amounts and percents, which the plan keeps as text to keep their spelling,
are numbers here; a field the manifest leaves out is absent (`has()` tests it), never a
default; a sensitive value is "(sensitive)", as everywhere else.

Violations are data (`PolicyViolation`): what the plan, `validate` and the renderers show. An
expression that fails when evaluated (a missing field, a type error) is a violation naming
the error, never a silent pass. Mandatory violations block the plan, and no flag overrides
them: a policy changes through a reviewed pull request.

Speed: the policies that judge one kind are compiled into one program, their conjunction, so
a resource that complies costs one call into the CEL runtime however many policies judge it;
only a resource that breaks some rule is judged again, policy by policy, to say which. And a
resource is handed to CEL with only the fields the policies read, where their text says
which (`cel.fields_read`): each field handed over costs a conversion.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from lmsform import kinds
from lmsform.cel import (
    Failed,
    Place,
    Program,
    compile_expression,
    conjunction,
    fields_read,
)
from lmsform.kinds import SENSITIVE, Resource
from lmsform.manifest import PolicySpec
from lmsform.resources import EXACT_NUMBER_KEYS

Loc = tuple[str | int, ...]
Position = Callable[[tuple[str, Loc] | None], tuple[str, int, int]]  # file, line, column


@dataclass(frozen=True)
class Policy:
    """A policy of the config: its entry, and where it is written."""

    spec: PolicySpec
    file: str
    index: int  # under that file's `policies:`

    @property
    def origin(self) -> tuple[str, Loc]:
        return self.file, ("policies", self.index)

    @property
    def message(self) -> str:
        """What a violation says: the policy's message, else its description, else its name."""
        return self.spec.message or self.spec.description or self.spec.name

    @property
    def program(self) -> Program:
        return compile_expression(self.spec.expression, self.spec.place)

    def judges(self, kind: str) -> bool:
        return self.spec.kinds is None or kind in self.spec.kinds

    @property
    def reads(self) -> frozenset[str] | None:
        """The fields (kinds, for `all`; a change's own, and `after.role`...) its expression
        reads; None: it may read any."""
        return fields_read(self.spec.expression, self.spec.place.value,
                           _SIDES if self.spec.place is Place.CHANGE else frozenset())


def _read_by(policies: list[Policy]) -> frozenset[str] | None:
    """What some of these policies read, None where one may read anything."""
    found: set[str] = set()
    for policy in policies:
        reads = policy.reads
        if reads is None:
            return None
        found |= reads
    return frozenset(found)


class PolicyViolation(BaseModel):
    """A resource, an operation or a whole config that a policy finds wrong."""

    policy: str
    enforcement: Literal["mandatory", "advisory"]
    address: str | None = Field(description="null for a policy of scope: config")
    message: str
    file: str = Field(description="Where to look: the resource's manifest, or the policy's "
                                  "own for a scope: config policy and a resource being "
                                  "deleted")
    line: int
    column: int

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


@dataclass(frozen=True)
class ChangeView:
    """One planned operation, as an `on: change` policy sees it (`change`)."""

    action: str
    address: str
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: list[str]  # the names of the fields it changes
    scheduled: bool = False  # time alone causes it (an expiry, a start)

    def hidden(self) -> frozenset[str]:
        """The fields a side shows as "(sensitive)": a value from the environment."""
        write_only = kinds.get(self.kind).write_only
        return frozenset(name for side in (self.before, self.after) if side
                         for name, value in side.items()
                         if value == SENSITIVE and name not in write_only)


def judge_declared(policies: list[Policy], resources: Mapping[str, Resource],
                   position: Position, mask: Callable[[str], str]) -> list[PolicyViolation]:
    """The violations of the `on: desired` policies (those `validate` judges, offline)."""
    found: list[tuple[Policy, str | None, tuple[str, Loc] | None, str | None]] = []
    chosen = [p for p in policies if p.spec.place is Place.RESOURCE]
    by_kind: dict[str, list[Resource]] = defaultdict(list)
    if chosen:
        for resource in resources.values():
            by_kind[resource.kind].append(resource)
    for kind, judging in _per_kind(chosen, by_kind):
        view = _viewer(kind, _read_by(judging))
        plain = [r for r in by_kind[kind] if not r.sensitive]
        for r in (r for r in by_kind[kind] if r.sensitive):  # rare: taken one by one
            found += [(p, r.address, r.origin, what) for p, _, what in _judged_unseeing(
                judging, Place.RESOURCE, r, view(r.attrs, r.address, r.sensitive),
                r.sensitive)]
        views = ((r, view(r.attrs, r.address, r.sensitive)) for r in plain)
        found += [(p, r.address, r.origin, what)
                  for p, r, what in _verdicts(judging, Place.RESOURCE, views)]
    whole = [p for p in policies if p.spec.place is Place.CONFIG]
    if whole:
        read = _read_by(whole)
        everything = {kind: [resource_view(r.kind, r.address, r.attrs, r.sensitive)
                             for r in resources.values() if r.kind == kind]
                      for kind in kinds.names() if read is None or kind in read}
        found += [(p, None, p.origin, what)
                  for p, _, what in _verdicts(whole, Place.CONFIG, [(None, everything)])]
    return _violations(found, policies, position, mask)


def judge_changes(policies: list[Policy], changes: Iterable[ChangeView],
                  resources: Mapping[str, Resource], position: Position,
                  mask: Callable[[str], str]) -> list[PolicyViolation]:
    """The violations of the `on: change` policies, by the planned operations. One about a
    resource no longer declared (being deleted) points at the policy."""
    chosen = [p for p in policies if p.spec.place is Place.CHANGE]
    by_kind: dict[str, list[ChangeView]] = defaultdict(list)
    if chosen:
        for change in changes:
            by_kind[change.kind].append(change)
    found: list[tuple[Policy, str | None, tuple[str, Loc] | None, str | None]] = []
    for kind, judging in _per_kind(chosen, by_kind):
        for policy, change, what in _judged_changes(judging, by_kind[kind]):
            declared = resources.get(change.address)
            origin = declared.origin if declared is not None else policy.origin
            found.append((policy, change.address, origin, what))
    return _violations(found, policies, position, mask)


def _judged_changes(policies: list[Policy], changes: list[ChangeView]
                    ) -> Iterator[tuple[Policy, ChangeView, str | None]]:
    """The verdicts on one kind's changes: a change showing a value from the environment
    ("(sensitive)") cannot be judged by a policy that may read that value."""
    plain = []
    for change in changes:
        hidden = {f"{side}.{name}" for side in _SIDES for name in change.hidden()}
        if hidden:
            yield from _judged_unseeing(policies, Place.CHANGE, change,
                                        _change_view(change), hidden)
        else:
            plain.append(change)
    yield from _verdicts(policies, Place.CHANGE, ((c, _change_view(c)) for c in plain))


def _judged_unseeing(policies: list[Policy], place: Place, subject: Any, view: Any,
                     hidden: AbstractSet[str]) -> Iterator[tuple[Policy, Any, str | None]]:
    """The verdicts on one subject some of whose values are hidden: a policy that reads one
    gives none (`_unseen` says why); the others judge it as any other."""
    why = {id(p): reason for p in policies if (reason := _unseen(p, hidden))}
    yield from ((p, subject, why[id(p)]) for p in policies if id(p) in why)
    seeing = [p for p in policies if id(p) not in why]
    if seeing:
        yield from _verdicts(seeing, place, [(subject, view)])


_SIDES = frozenset({"before", "after"})  # a change's maps of attributes


def _unseen(policy: Policy, hidden: AbstractSet[str]) -> str | None:
    """Why a policy gives no verdict on a resource (or a change): it may read a value from
    the environment, which is never shown; None where it reads none of `hidden`."""
    reads = policy.reads
    read = sorted(hidden if reads is None else hidden & reads)
    if not read:
        return None
    return (f"cannot be judged: it {'may read' if reads is None else 'reads'} "
            f"{', '.join(read)}, whose value comes from the environment and is never "
            "shown; compare in the environment instead, or keep what the policy reads out "
            "of ${env:...}")


def resource_view(kind: str, address: str, attrs: Mapping[str, Any] | None,
                  sensitive: Iterable[str] = ()) -> dict[str, Any]:
    """A resource's attributes as CEL sees them, with its address and kind."""
    return _viewer(kind, None)(attrs or {}, address, sensitive)


def _viewer(kind: str, reads: frozenset[str] | None
            ) -> Callable[[Mapping[str, Any], str, Iterable[str]], dict[str, Any]]:
    """How to make the views of one kind's resources: only the fields `reads` names, where
    the policies say which they read (what they do not read cannot change a verdict, and
    each field handed to CEL costs a conversion); made once per kind, since a plan makes
    100k views."""
    names = None if reads is None else tuple(reads - {"address", "kind"})
    nested = kinds.get(kind).nested_fields
    with_address = reads is None or "address" in reads
    with_kind = reads is None or "kind" in reads

    def view(attrs: Mapping[str, Any], address: str, sensitive: Iterable[str]
             ) -> dict[str, Any]:
        shown = dict(attrs) if names is None else {n: attrs[n] for n in names if n in attrs}
        if nested:
            shown = _typed(kind, shown)
        for name in sensitive:
            if name in shown:
                shown[name] = SENSITIVE
        if with_address:
            shown["address"] = address
        if with_kind:
            shown["kind"] = kind
        return shown
    return view


def _change_view(change: ChangeView) -> dict[str, Any]:
    return {"action": change.action, "address": change.address, "kind": change.kind,
            "before": None if change.before is None else _typed(change.kind, change.before),
            "after": None if change.after is None else _typed(change.kind, change.after),
            "changed": change.changed, "scheduled": change.scheduled}


def _typed(kind: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes with exact numbers (amounts, percents: text in the plan) as numbers
    (only kinds with nested fields hold any), without the write-only ones (a password),
    which no policy sees."""
    kind_ = kinds.get(kind)
    view = {k: v for k, v in attrs.items() if k not in kind_.write_only}
    for name in kind_.nested_fields & view.keys():
        view[name] = _numbers(view[name])
    return view


def _numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: float(v) if k in EXACT_NUMBER_KEYS and isinstance(v, str) and _is_number(v)
                else _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _per_kind(policies: list[Policy], present: Mapping[str, object]
              ) -> Iterator[tuple[str, list[Policy]]]:
    """Each kind with something to judge, and the policies that judge it."""
    for kind in kinds.names():
        judging = [p for p in policies if p.judges(kind)]
        if judging and present.get(kind):
            yield kind, judging


def _verdicts(policies: list[Policy], place: Place, views: Iterable[tuple[Any, Any]]
              ) -> Iterator[tuple[Policy, Any, str | None]]:
    """(policy, subject, what) for each verdict that is not `true`: `what` is None for
    `false`, else why the expression gave no verdict. What complies with every policy is
    known from one evaluation; the rest is judged policy by policy, to say which."""
    together = conjunction([p.spec.expression for p in policies], place)
    for subject, view in views:
        if together is not None and together.holds(view):
            continue
        for policy in policies:
            verdict = policy.program.evaluate(view)
            if verdict is not True:
                yield policy, subject, _why(verdict)


def _why(verdict: Any) -> str | None:
    if verdict is False:
        return None
    if isinstance(verdict, Failed):
        return f"the expression failed: {verdict.error}"
    return f"the expression gave {verdict!r}, not true or false"


def _violations(found: list[tuple[Policy, str | None, tuple[str, Loc] | None, str | None]],
                policies: list[Policy], position: Position,
                mask: Callable[[str], str]) -> list[PolicyViolation]:
    """Violations in the order the policies are declared, each policy's in manifest order."""
    rank = {id(p): i for i, p in enumerate(policies)}
    violations = []
    for policy, address, origin, why in found:
        file, line, column = position(origin)
        message = policy.message if why is None else f"{policy.message} ({why})"
        violations.append((rank[id(policy)], PolicyViolation(
            policy=policy.spec.name, enforcement=policy.spec.enforcement, address=address,
            message=mask(message), file=file, line=line, column=column)))
    violations.sort(key=lambda v: (v[0], v[1].file, v[1].line, v[1].column))
    return [v for _, v in violations]


def summaries(violations: list[PolicyViolation]) -> tuple[list[str], list[str]]:
    """One line per violated policy, for the plan's `blocked` (mandatory policies) and
    `warnings` (advisory ones)."""
    by_policy: dict[str, list[PolicyViolation]] = {}
    for violation in violations:
        by_policy.setdefault(violation.policy, []).append(violation)
    blocked, warnings = [], []
    for name, found in by_policy.items():
        addresses = [v.address for v in found if v.address is not None]
        shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more"
                                            if len(addresses) > 3 else "")
        what = f"by {shown}" if addresses else "by the manifests as a whole"
        if found[0].mandatory:
            blocked.append(f"policy {name} (mandatory) is violated {what}: no flag overrides "
                           "a policy; change the manifests, or the policy through review")
        else:
            warnings.append(f"policy {name} (advisory) is violated {what}")
    return blocked, warnings
