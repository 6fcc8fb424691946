"""Users: declared under `users:`, named by their email (compared case-insensitively), in a
department, members of groups, enrolled in courses. A user the manifests drop is switched off
(`settings.user_removal: deactivate`, the default) or deleted; export writes them 5,000 to a
file.

Access can be bound in time (`lmsform.schedule`): `active_from` and `active_until` say when a
user's access starts and ends, an enrollment `{course: KEY, from: DATE, until: DATE}` when it
holds. They live in the manifests alone: never sent to the LMS nor compared with it, they
decide the user's desired `active` and `enrollments` at the instant of each plan (`User.at`),
before matching: before the start a missing user is not created and an existing one is kept
switched off; after the end it is switched off (and not created); an enrollment outside its
window is left out, so removed where the LMS has it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationInfo,
    field_validator,
)

from lmsform.kinds.department import DepartmentPath
from lmsform.kinds.kind import (
    Declaring,
    Exported,
    Kind,
    Loc,
    Removal,
    Resource,
    Ruling,
    Support,
    as_set,
)
from lmsform.manifest import (
    UNION_TAG,
    Custom,
    Email,
    Flag,
    Managed,
    Moment,
    Name,
    SettingsSpec,
    Slug,
    Strict,
    Text,
    lifecycle_for,
)
from lmsform.schedule import Event, Window, window_events

FIELDS = ("email", "first_name", "last_name", "username", "employee_id", "job_title", "role",
          "department", "groups", "enrollments", "active", "password", "custom")
Role = Literal["learner", "instructor", "admin"]
# The example user `lmsform init` writes, with the fields the provider supports
SAMPLE = {
    "first_name": "Ada", "last_name": "Lovelace", "username": "ada.lovelace",
    "employee_id": "E-1001", "job_title": "Engineer", "role": "learner",
    "department": "Example Region/Example Division/Example Department",
}
# Users per file: one file up to this many, then users-001.yaml, users-002.yaml... in email
# order, so that each file stays reviewable and a re-export diffs cleanly
USERS_PER_FILE = 5_000


def _window_problem(start: Any, end: Any, ending: str) -> None:
    problem = Window(start, end).problem() if end is not None else None
    if problem is not None:
        raise ValueError(f"{ending} {problem}")


class EnrollmentSpec(Strict):
    """An enrollment that holds for a time: `{course: KEY, from: DATE, until: DATE}` (either
    bound may be left out); a plain course key holds always."""

    course: Slug
    from_: Moment | None = Field(None, alias="from")
    until: Moment | None = None

    @field_validator("until")
    @classmethod
    def _after_from(cls, value: Any, info: ValidationInfo) -> Any:
        _window_problem(info.data.get("from_"), value, "until")
        return value


def _enrollment_form(value: Any) -> str:
    return f"{UNION_TAG}window" if isinstance(value, dict) else f"{UNION_TAG}key"


# a course key, or a mapping with its window; the tags name no place in the file
Enrollment = Annotated[Annotated[Slug, Tag(f"{UNION_TAG}key")]
                       | Annotated[EnrollmentSpec, Tag(f"{UNION_TAG}window")],
                       Discriminator(_enrollment_form)]


class UserSpec(Managed):
    email: Email
    first_name: Text | None = None
    last_name: Text | None = None
    username: Text | None = None
    employee_id: Text | None = None
    job_title: str | None = None
    role: Role | None = None
    department: DepartmentPath | None = None
    groups: list[Name] | None = None
    enrollments: list[Enrollment] | None = None
    active: Flag | None = None
    # when access starts and ends: manifest-only (see the module's docstring)
    active_from: Moment | None = None
    active_until: Moment | None = None
    password: SecretStr | None = None
    custom: Custom | None = None
    lifecycle: lifecycle_for("user", FIELDS) | None = None  # type: ignore[valid-type]

    @field_validator("active_until")
    @classmethod
    def _after_from(cls, value: Any, info: ValidationInfo) -> Any:
        _window_problem(info.data.get("active_from"), value, "active_until")
        return value


@dataclasses.dataclass(frozen=True, slots=True)
class UserTimes:
    """What a user's manifest says of time (`Resource.timed`): the window of its access
    (None: always), and the enrollments that hold for a time, by course key."""

    active: Window | None
    enrollments: tuple[tuple[str, Window], ...]


# what `User.declare` reads of an entry beyond its fields' values
_READ_FROM_MODEL = frozenset({"password", "active_from", "active_until"})


def _times(spec: UserSpec) -> UserTimes | None:
    """The time bounds of a user's entry; None for nearly every user: none."""
    windows = tuple((e.course, Window(e.from_, e.until)) for e in spec.enrollments or ()
                    if isinstance(e, EnrollmentSpec) and (e.from_ or e.until))
    if spec.active_from is None and spec.active_until is None and not windows:
        return None
    active = None if spec.active_from is None and spec.active_until is None \
        else Window(spec.active_from, spec.active_until)
    return UserTimes(active, windows)


class User(Kind):
    name = "user"
    fields = FIELDS
    references: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"department": "department", "groups": "group", "enrollments": "course"})
    set_fields = frozenset({"groups", "enrollments"})
    write_only = frozenset({"password"})
    shared_fields = frozenset({"role"})
    nested_fields = frozenset({"enrollments"})  # an item may be a model: its window
    key_field = "email"
    active_field = "active"
    removal_setting = "settings.user_removal"
    section = "users"
    spec = UserSpec
    export_file = "users.yaml"
    field_hints: ClassVar[Mapping[str, str]] = MappingProxyType(dict.fromkeys(
        ("active_from", "active_until"),
        "only a user's access starts and ends: give each user its own active_from and "
        "active_until, or bound an enrollment instead ({course: KEY, from: DATE, until: "
        "DATE} in a user's enrollments)"))

    def canonical_values(self) -> dict[str, Callable[[Any], Any]]:
        return {"email": lambda v: str(v).lower()}

    def doubtful_name(self, key: Any) -> str:
        return str(key).lower()

    def field_data(self, name: str, value: Any) -> Any:
        """Enrollments as course keys: a window is `Resource.timed`'s."""
        return [e.course if isinstance(e, EnrollmentSpec) else e for e in value]

    def may_be_plain(self, entry: dict[str, Any]) -> bool:
        """A password (to warn of when written) and time bounds (`_times`) are read from
        the model: an entry without them declares its fields' values."""
        enrollments = entry.get("enrollments")
        return entry.keys().isdisjoint(_READ_FROM_MODEL) and not (
            isinstance(enrollments, list) and dict in map(type, enrollments))

    def declare(self, spec: BaseModel, origin: tuple[str, Loc],
                say: Declaring) -> Iterator[Resource]:
        assert isinstance(spec, UserSpec)
        if spec.password is not None:
            say.literal_secret((*origin[1], "password"), "a password")
        resource = self.resource(spec, origin)
        times = _times(spec)
        if times is not None:
            _check_times(spec, times, origin[1], say)
            resource.timed = times
        yield resource

    # time

    def at(self, resource: Resource, instant: dt.datetime, zone: dt.tzinfo,
           since: dt.datetime | None = None) -> tuple[Resource, Ruling]:
        """The user at `instant`: `active` as its window says (an explicit `active: false`
        stays false), not created outside it; the enrollments within their windows."""
        times: UserTimes = resource.timed
        attrs = dict(resource.attrs)
        fields: dict[str, tuple[Any, str]] = {}
        exists, created = True, None
        if times.active is not None:
            phase, why = times.active.phase(instant, zone, since=since)
            wanted = attrs.get("active", True)
            attrs["active"] = wanted and phase == "within"
            exists = phase == "within"
            created = why if exists else None
            if wanted and why is not None:
                fields["active"] = (attrs["active"], why)
        items: dict[str, dict[str, tuple[bool, str]]] = {}
        if times.enrollments:
            enrolled, decided = set(attrs.get("enrollments") or ()), {}
            for course, window in times.enrollments:
                phase, why = window.phase(instant, zone, ended="ended", since=since)
                if phase != "within":
                    enrolled.discard(course)
                if why is not None:
                    decided[course] = (phase == "within", f"enrollment in {course} {why}")
            attrs["enrollments"] = as_set(enrolled)
            items["enrollments"] = decided
        return dataclasses.replace(resource, attrs=attrs), Ruling(fields, items, exists,
                                                                  created)

    def events(self, resource: Resource, zone: dt.tzinfo) -> list[Event]:
        times: UserTimes = resource.timed
        found = [] if times.active is None else window_events(
            resource.address, times.active, zone, "starts", "expires")
        for course, window in times.enrollments:
            found += window_events(resource.address, window, zone, "enrollment_starts",
                                   "enrollment_ends", course)
        return found

    def empty_windows(self, resource: Resource, zone: dt.tzinfo) -> list[tuple[str, str]]:
        times: UserTimes = resource.timed
        found = [("active_until", "active_until ends access before active_from starts it, "
                  "in settings.timezone: the user would never be active")
                 ] if times.active is not None and times.active.empty_in(zone) else []
        return found + [("enrollments", f"the window of the enrollment in {course} ends "
                         "before it starts, in settings.timezone: it would never hold")
                        for course, window in times.enrollments if window.empty_in(zone)]

    def time_problems(self, resource: Resource, support: Support,
                      vendor: str) -> list[tuple[str | None, str]]:
        """A window on access needs a provider that switches users off and on (`active`);
        one on an enrollment, one that adds and removes enrollments of an existing user."""
        times: UserTimes = resource.timed
        problems: list[tuple[str | None, str]] = []
        if times.active is not None and not ("active" in support.fields and support.update):
            name = "active_until" if times.active.end is not None else "active_from"
            instead = ("remove the user from the manifests when access ends, with "
                       "settings.user_removal: delete (the user is deleted then)"
                       if support.delete else "end access in the LMS itself")
            problems.append((name, f"{resource.address}: the {vendor} provider cannot "
                             f"switch users off and on, so it cannot honour {name}; "
                             f"{instead}. {support.advice}".rstrip()))
        fixed = not support.update or "enrollments" in support.fixed_fields | \
            support.grow_only_fields
        if times.enrollments and "enrollments" in support.fields and fixed:
            courses = ", ".join(course for course, _ in times.enrollments)
            problems.append(("enrollments", f"{resource.address}: the {vendor} provider "
                             "cannot add and remove the enrollments of an existing user, so "
                             f"it cannot honour an enrollment's from or until ({courses}); "
                             "enroll without them, and end the enrollment in the LMS. "
                             f"{support.advice}".rstrip()))
        return problems

    def removal(self, settings: SettingsSpec) -> Removal:
        return settings.user_removal

    def settings_problems(self, settings: SettingsSpec, support: Support,
                          vendor: str) -> list[str]:
        """`user_removal: delete` where the LMS cannot delete users would fail at the first
        removal: said at once, whether or not this plan removes anyone."""
        if settings.user_removal != "delete" or support.delete:
            return []
        then = "switches removed users off" if support.deactivate else "is not possible either"
        switch = f"set it to deactivate (the default), which {then}"
        return [f"settings.user_removal: delete: the {vendor} provider cannot delete users; "
                f"{switch}. {support.advice}".rstrip()]

    def example(self, support: Support, vendor: str) -> str | None:
        """One user, with the fields this provider supports (and those it needs to create
        one); in a department of an example hierarchy where it has departments."""
        if not support.create:
            return None
        fields = [f for f in SAMPLE if f in support.fields and (
            f in support.required_on_create or f in ("first_name", "last_name", "role")
            or (f == "username" and "first_name" not in support.fields))]
        managed = textwrap.wrap(f"The {vendor} provider manages these user fields: "
                                f"{', '.join(sorted(support.fields))}.", 94)
        lines = [
            "# Users: the email is the key (compared case-insensitively). A field left out is "
            "not",
            "# managed: lmsform never touches it. A list that is present is authoritative.",
            "# This one is an example: replace it with your own people before the first "
            "apply.",
            *(f"# {line}" for line in managed),
        ]
        if "department" in fields:
            lines += ["hierarchy:", "  - region: Example Region", "    divisions:",
                      "      - division: Example Division",
                      "        departments: [Example Department]", ""]
        lines += ["users:", "  - email: ada.lovelace@example.com",
                  *(f"    {name}: {SAMPLE[name]}" for name in fields)]
        return "\n".join(lines) + "\n"

    def example_settings(self, support: Support | None, vendor: str) -> list[str]:
        """Users are removed the way this provider can."""
        removal, why = "deactivate", "a user removed from the manifests is deactivated; or delete"
        if support is not None and not support.deactivate and support.delete:
            removal = "delete"
            why = f"the {vendor} provider cannot deactivate users: a removed user is deleted"
        return [f"  # {why}", f"  user_removal: {removal}"]

    def export_files(self, exported: Mapping[str, list[Exported]],
                     entry: Callable[[Exported], dict[str, Any]]
                     ) -> list[tuple[str, list[Any]]]:
        """Up to USERS_PER_FILE in users.yaml; more in users-001.yaml, users-002.yaml..."""
        users = [entry(e) for e in exported.get(self.name, [])]
        chunks = [users[i:i + USERS_PER_FILE] for i in range(0, len(users), USERS_PER_FILE)]
        assert self.export_file is not None
        return [(self.export_file if len(chunks) == 1 else f"users-{n:03d}.yaml", chunk)
                for n, chunk in enumerate(chunks, 1)]


def _check_times(spec: UserSpec, times: UserTimes, loc: Loc, say: Declaring) -> None:
    """What a user's time bounds contradict: an enrollment listed twice where one of them
    has a window (which one holds?), and time bounds on a field `lifecycle.ignore_changes`
    lists (they could never be enforced)."""
    seen: dict[str, int] = {}
    windowed = {course for course, _ in times.enrollments}
    for i, item in enumerate(spec.enrollments or ()):
        course = item.course if isinstance(item, EnrollmentSpec) else item
        if course in seen and course in windowed:
            say.error((*loc, "enrollments", i), f"{course} is listed twice, with a window "
                      f"at least once (also at {say.where((*loc, 'enrollments', seen[course]))}"
                      "); list it once")
        seen.setdefault(course, i)
    _bounds_written(spec, loc, say)
    ignored = set(spec.lifecycle.ignore_changes) if spec.lifecycle else set()
    for name, bounded in (("active", times.active is not None),
                          ("enrollments", bool(times.enrollments))):
        if bounded and name in ignored:
            what = "active_from and active_until decide" if name == "active" \
                else "an enrollment's from and until decide"
            say.error((*loc, "lifecycle", "ignore_changes"), f"{what} {name}, which "
                      f"lifecycle.ignore_changes lists: they could never be enforced; take "
                      f"{name} out of ignore_changes")


def _bounds_written(spec: UserSpec, loc: Loc, say: Declaring) -> None:
    """A time bound never takes its value from the environment: a value from there is a
    secret, and every plan shows what a bound decides (the reason beside a change, the
    schedule)."""
    places: list[Loc] = [(name,) for name in ("active_from", "active_until")
                         if getattr(spec, name) is not None]
    places += [("enrollments", i, key) for i, item in enumerate(spec.enrollments or ())
               if isinstance(item, EnrollmentSpec)
               for key, value in (("from", item.from_), ("until", item.until))
               if value is not None]
    for place in places:
        if say.from_environment((*loc, *place)):
            say.error((*loc, *place), "a time bound cannot take its value from the "
                      "environment (what it decides is shown in every plan, and a value from "
                      "there is a secret): write the date, or take it from a ${var:...}")
