"""Names that are data: emails and names that look like URL syntax (`#`, `?`, `/`, `%2F`,
`..`, `&`) or like lmsform's own marker for an unnamed reference (`#1`), added to a vendor's
example, so that each provider's tests show that no name can break an operation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.support import ConfigDir

EMAILS = ["a#hash@example.com", "q?x=1@example.com", "s/lash@example.com",
          "pct%2Fenc@example.com", "amp&er=1@example.com", "plus+tag@example.com",
          "o'neil@example.com", "dot.dot@example.com"]
GROUPS = ["#hash", "#1", "a?b=c", "R&D (EMEA)", "100% sure", "..", "x%2Fy", "q'uote"]


def add_hostile(config: ConfigDir, *, groups: bool, refused: str = "",
                unique: tuple[str, ...] = ("username", "employee_id")) -> tuple[list[str],
                                                                                 list[str]]:
    """Users copied from the example's first, with hostile emails, and (`groups`) groups
    with hostile names that they belong to; values holding a character the vendor refuses
    (`refused`, as its provider says at plan time) are left out. The emails and group names
    added."""
    emails = [e for e in EMAILS if not set(e) & set(refused)]
    names = [g for g in GROUPS if not set(g) & set(refused)] if groups else []
    yaml = YAML()
    users_file = _holding(config.dir, "users")
    document = yaml.load(users_file)
    template = document["users"][0]
    for i, email in enumerate(emails):
        user = copy.deepcopy(template)
        user["email"] = email
        for field in unique:
            if field in user:
                user[field] = f"hostile-{i}"
        user.pop("password", None)
        if names:
            user["groups"] = names
        document["users"].append(user)
    yaml.dump(document, users_file)
    if names:
        groups_file = _holding(config.dir, "groups")
        document = yaml.load(groups_file)
        template = document["groups"][0]
        for name in names:
            group: Any = copy.deepcopy(template)
            group["name"] = name
            document["groups"].append(group)
        yaml.dump(document, groups_file)
    return emails, names


def _holding(directory: Path, section: str) -> Path:
    return next(p for p in sorted(directory.glob("*.yaml"))
                if f"\n{section}:" in "\n" + p.read_text())
