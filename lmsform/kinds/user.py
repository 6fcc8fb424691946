"""Users: declared under `users:`, named by their email (compared case-insensitively), in a
department, members of groups, enrolled in courses. A user the manifests drop is switched off
(`settings.user_removal: deactivate`, the default) or deleted; export writes them 5,000 to a
file."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, SecretStr

from lmsform.kinds.department import DepartmentPath
from lmsform.kinds.kind import Declaring, Exported, Kind, Loc, Removal, Resource, Support
from lmsform.manifest import (
    Custom,
    Email,
    Flag,
    Managed,
    Name,
    SettingsSpec,
    Slug,
    Text,
    lifecycle_for,
)

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
    enrollments: list[Slug] | None = None
    active: Flag | None = None
    password: SecretStr | None = None
    custom: Custom | None = None
    lifecycle: lifecycle_for("user", FIELDS) | None = None  # type: ignore[valid-type]


class User(Kind):
    name = "user"
    fields = FIELDS
    references: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"department": "department", "groups": "group", "enrollments": "course"})
    set_fields = frozenset({"groups", "enrollments"})
    write_only = frozenset({"password"})
    shared_fields = frozenset({"role"})
    key_field = "email"
    active_field = "active"
    removal_setting = "settings.user_removal"
    section = "users"
    spec = UserSpec
    export_file = "users.yaml"

    def canonical_values(self) -> dict[str, Callable[[Any], Any]]:
        return {"email": lambda v: str(v).lower()}

    def doubtful_name(self, key: Any) -> str:
        return str(key).lower()

    def declare(self, spec: BaseModel, origin: tuple[str, Loc],
                say: Declaring) -> Iterator[Resource]:
        assert isinstance(spec, UserSpec)
        if spec.password is not None:
            say.literal_secret((*origin[1], "password"), "a password")
        yield self.resource(spec, origin)

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
