"""The plan: ordered operations that would make the LMS match the manifests.

A Plan is a pydantic model, so its JSON form (`plan --json`, `plan --out FILE`) is documented
by the model itself (`docs/plan-json.md`); `lmsform.render` turns it into text and Markdown.
It never holds a secret: write-only fields appear only as the marker "(sensitive)".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from lmsform import __version__, kinds
from lmsform.backends.file import atomic_write
from lmsform.diff import Change
from lmsform.drift import Drift
from lmsform.errors import LmsformError, reason
from lmsform.policies import PolicyViolation

FORMAT_VERSION = 1


class Action(StrEnum):
    """What an operation does. Every rule about actions is a property here, defined once."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    DEACTIVATE = "deactivate"
    ADOPT = "adopt"
    MOVE = "move"
    RECORD = "record"
    FORGET = "forget"

    @property
    def state_only(self) -> bool:
        """Changes only the state; the LMS is not called."""
        return self in _STATE_ONLY

    @property
    def creates(self) -> bool:
        """Brings a new resource into the LMS, with a new id others may need."""
        return self in _CREATES

    @property
    def removes(self) -> bool:
        """Takes a resource away from users of the LMS: counted by the safety limits."""
        return self in _REMOVES

    @property
    def retires(self) -> bool:
        """The resource leaves the state: ordered after whatever still refers to it."""
        return self in _RETIRES

    @property
    def symbol(self) -> str:
        return _LOOK[self][0]

    @property
    def colour(self) -> str:
        return _LOOK[self][1]

    @property
    def past(self) -> str:
        """`created`, `forgotten`...: for apply's progress and summary."""
        return _LOOK[self][2]


_STATE_ONLY = frozenset({Action.ADOPT, Action.MOVE, Action.RECORD, Action.FORGET})
# (sets made once: these are asked of every operation, 100k times in a large plan)
_CREATES = frozenset({Action.CREATE, Action.REPLACE})
_REMOVES = frozenset({Action.REPLACE, Action.DELETE, Action.DEACTIVATE})
_RETIRES = frozenset({Action.DELETE, Action.DEACTIVATE, Action.FORGET})
_LOOK: dict[Action, tuple[str, str, str]] = {
    Action.CREATE: ("+", "green", "created"),
    Action.UPDATE: ("~", "yellow", "updated"),
    Action.REPLACE: ("-/+", "magenta", "replaced"),
    Action.DELETE: ("-", "red", "deleted"),
    Action.DEACTIVATE: ("-", "red", "deactivated"),
    Action.ADOPT: ("=", "cyan", "adopted"),
    Action.MOVE: ("=", "cyan", "moved"),
    Action.RECORD: ("=", "cyan", "recorded"),
    Action.FORGET: ("=", "cyan", "forgotten"),
}


class Operation(BaseModel):
    """One step of a plan. The planner builds these with keyword arguments only, checked by
    mypy's pydantic plugin, never from untyped dicts: `model_construct`, which neither
    checks nor copies what it is given. Validating would copy each operation's `before` and
    `after`: for 100k creates, 40 MB of copies of the manifests' own dicts. Those dicts are
    shared, so nothing changes them in place (as with `State.load`'s sharing). Each field
    with a default factory is given (`changes`, `depends_on`): for one left out,
    `model_construct` asks `inspect.signature` of the factory, a hundred times the cost of
    the operation. A plan read from a file is validated whole (`Plan.model_validate_json`)."""

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
    scheduled: bool = Field(False, description="Caused by time alone (a start or an end the "
                                               "manifests set): `apply --scheduled-only` "
                                               "applies it")

    @property
    def switches_off(self) -> bool:
        """Deactivates: a removal by deactivation, or a change of the kind's active field
        (a user's `active`) to false, which takes the resource away as surely."""
        return self.action == Action.DEACTIVATE or self._switches(on=False)

    @property
    def switches_on(self) -> bool:
        """Reactivates: a change of the kind's active field from false to true."""
        return self._switches(on=True)

    def _switches(self, *, on: bool) -> bool:
        if self.action not in _CHANGES_IN_PLACE:
            return False
        active = kinds.get(self.kind).active_field
        change = next((c for c in self.changes if c.field == active), None)
        if active is None or change is None:
            return False
        was_on = change.before is not False  # unset is on
        return change.after is on and was_on is not on


_CHANGES_IN_PLACE = frozenset({Action.UPDATE, Action.REPLACE})

# The fields set of every operation the planner makes (`model_construct(_fields_set=...)`):
# one set for all, a set each being 70 MB of 100k creates'. It holds every field, so that
# assigning one (`depends_on`), which adds its name, never changes it.
PLANNED_FIELDS: set[str] = set(Operation.model_fields)


class ScheduledEvent(BaseModel):
    """Something the manifests schedule soon (`settings.schedule_notice_days`)."""

    address: str
    event: str = Field(description="starts, expires, enrollment_starts or enrollment_ends")
    at: str = Field(description="When: ISO 8601, with the offset of settings.timezone")
    item: str | None = Field(None, description="What of the resource: an enrollment's course")


class CourseAccess(BaseModel):
    course: str = Field(description="The course's key")
    users: list[str] = Field(description="The users' emails, sorted")


class RoleChange(BaseModel):
    user: str = Field(description="The user's email")
    before: str | None = Field(description="The role before; null where unset (a new user)")
    after: str | None = Field(description="The role after; null where unset")


class PriceChange(BaseModel):
    course: str = Field(description="The course's key")
    plan: str = Field(description="The pricing plan's name")
    before: Any = Field(description="The plan's attributes ({amount, currency, billing}) as "
                                    "the operations show them; null when added")
    after: Any = Field(description="The plan's attributes after; null when removed")


class CouponChange(BaseModel):
    code: str
    action: Action = Field(description="The operation's action: create, update, replace, "
                                       "delete")
    discount: Any = Field(description="The discount ({percent} or {amount, currency}) as the "
                                      "operations show it: after the change, or as it was for "
                                      "a delete")
    courses: list[str] | None = Field(None, description="The courses it takes money off; "
                                                        "null: every course")


class Impact(BaseModel):
    """What a plan's operations mean for people, derived from them and from what the plan
    read of the LMS (`lmsform.impact`): who gains or loses access to which course, whose
    role changes, who is created, deleted, switched off or on, and which prices and coupons
    change. Each list is sorted; a fact that would depend on a value hidden as "(sensitive)"
    is left out."""

    access_granted: list[CourseAccess] = Field(
        default_factory=list, description="Per course, the users who gain access to it: "
        "enrolled, or (where the provider's groups give their members their courses) through "
        "a group; a new or reactivated user's courses included")
    access_revoked: list[CourseAccess] = Field(
        default_factory=list, description="Per course, the users who lose access to it; a "
        "deleted or deactivated user is listed as such, not here")
    privilege_changes: list[RoleChange] = Field(
        default_factory=list, description="Users whose role changes, those who become admin "
        "first; a new user where its role is above the least one")
    users_created: list[str] = Field(default_factory=list)
    users_deleted: list[str] = Field(default_factory=list)
    users_deactivated: list[str] = Field(default_factory=list)
    users_reactivated: list[str] = Field(default_factory=list)
    pricing_changes: list[PriceChange] = Field(
        default_factory=list, description="Course prices added, removed or changed, per "
        "pricing plan (a new course's prices are added, a deleted one's removed)")
    coupon_changes: list[CouponChange] = Field(default_factory=list)


class StateRef(BaseModel):
    lineage: str | None = Field(description="null when the plan was made with no state yet")
    serial: int


class Plan(BaseModel):
    """What `lmsform plan` found; applying it runs `operations` in order."""

    format_version: int = FORMAT_VERSION
    lmsform_version: str = __version__
    summary: dict[Action, int] = Field(default_factory=dict)
    impact: Impact | None = Field(
        None, description="What the operations mean for people; null when there are none "
                          "(and for --refresh-only). Derived: not compared when a saved plan "
                          "is applied")
    operations: list[Operation] = Field(default_factory=list)
    unmanaged: dict[str, int | None] = Field(
        default_factory=dict,
        description="Live resources in neither the manifests nor the state, per kind; null "
                    "where the LMS cannot list that kind, so they cannot be counted",
    )
    blocked: list[str] = Field(
        default_factory=list, description="Safety limits this plan exceeds (apply needs "
                                          "--force), and the mandatory policies it violates "
                                          "(no flag overrides them)"
    )
    policy_violations: list[PolicyViolation] = Field(
        default_factory=list,
        description="What the policies (`policies:`) find wrong, in the manifests and in "
                    "the operations; a mandatory one blocks the plan")
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list,
        description="How the plan was made, for its reader (a kind read one resource at a "
                    "time, and what that took); not part of what applying a saved plan checks",
    )
    drop_unsupported: bool = Field(False, description="Made with --drop-unsupported: what "
                                                      "the provider cannot hold is left out")
    dropped: list[str] = Field(
        default_factory=list,
        description="With --drop-unsupported: the kinds and fields the manifests declare that "
                    "the provider cannot hold, left out of the plan, with counts",
    )
    refresh_only: bool = Field(False, description="Made with --refresh-only: drift alone, "
                                                  "no operations")
    drift: list[Drift] = Field(
        default_factory=list,
        description="With --refresh-only: managed resources the LMS changed outside lmsform "
                    "since it last applied",
    )
    schedule: list[ScheduledEvent] = Field(
        default_factory=list,
        description="What the manifests schedule after the plan's instant and at most "
                    "settings.schedule_notice_days later, soonest first")
    scheduled_only: bool = Field(False, description="Made with --scheduled-only: the "
                                                    "operations time caused, nothing else")
    left_for_review: list[Operation] = Field(
        default_factory=list,
        description="With --scheduled-only: the operations (or the parts of one) not caused "
                    "by time, listed and not applied")
    unmanaged_resources: dict[str, list[str]] = Field(
        default_factory=dict,
        description="With --show-unmanaged: the addresses of the unmanaged resources, per kind",
    )
    state: StateRef | None = None
    instant: AwareDatetime | None = Field(
        None, description="The instant the plan is for: the clock, or LMSFORM_NOW")
    provider: dict[str, str] = Field(default_factory=dict)
    config_dir: str | None = None
    targets: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    max_deletes: int | None = Field(None, description="The --max-deletes the plan was made "
                                    "with; applying it saved enforces it again")
    known_ids: dict[str, str] = Field(
        default_factory=dict, description="LMS ids of the resources operations refer to"
    )
    signature: str | None = Field(
        None, description="HMAC-SHA256 of the rest of the plan, keyed by the LMS's and the "
                          "state's credentials; null where they have none. Applying the "
                          "plan refuses it unless it matches")

    def model_post_init(self, context: Any) -> None:
        if not self.summary:
            self.summary = dict.fromkeys(Action, 0)
            for op in self.operations:
                self.summary[op.action] += 1

    @property
    def violates_policy(self) -> bool:
        """A mandatory policy is violated: nothing applies it, not even --force."""
        return any(v.mandatory for v in self.policy_violations)

    @property
    def has_changes(self) -> bool:
        """Operations to apply, or (a refresh-only plan) drift to accept."""
        return bool(self.operations) or bool(self.drift)

    def sign(self, key: bytes | None) -> None:
        """Sign the plan with the config's key (`Config.signing_key`), or leave it unsigned
        where there is none."""
        self.signature = None if key is None else self._digest(key)

    def signed_with(self, key: bytes) -> bool:
        return self.signature is not None and hmac.compare_digest(self.signature,
                                                                  self._digest(key))

    def _digest(self, key: bytes) -> str:
        """Over the plan's canonical JSON (sorted keys), signature aside."""
        data = self.model_dump(mode="json", exclude={"signature"})
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def save(self, path: Path) -> None:
        try:
            atomic_write(path, self.model_dump_json(indent=2) + "\n")
        except OSError as exc:
            raise LmsformError(f"cannot write the plan to {path}: "
                               f"{reason(exc)}") from None

    @classmethod
    def load(cls, path: Path) -> Plan:
        """A saved plan; refused when it is not one, or of a format this lmsform cannot read."""
        try:
            plan = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise LmsformError(f"no plan file {path}") from None
        except (ValidationError, ValueError):
            # never quote the file: it may be anything (an env file, a key) given by mistake
            raise LmsformError(f"{path} is not an lmsform plan (the JSON file that "
                               "`lmsform plan --out FILE` writes); nothing was applied") from None
        if plan.format_version != FORMAT_VERSION:
            raise LmsformError(f"{path} has plan format {plan.format_version}; "
                               f"this lmsform reads {FORMAT_VERSION}")
        return plan


def kind_rank(kind: str) -> int:
    return kinds.rank(kind)
