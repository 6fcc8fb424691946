"""What a plan is asked for: the command line's choices, passed through every stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class PlanOptions:
    targets: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    max_deletes: int | None = None
    parallelism: int = 8
    refresh_only: bool = False  # report drift alone (`plan --refresh-only`)
    # leave out, and list, what the provider cannot hold instead of refusing (a migration)
    drop_unsupported: bool = False
    show_unmanaged: bool = False  # list unmanaged resources by address, not only count them
    # apply what time caused (starts, ends), leave the rest for review (`planning.timing`)
    scheduled_only: bool = False
    now: dt.datetime | None = None  # the instant to plan for; None: the clock or LMSFORM_NOW
