"""What the `local` provider block holds: the LMS file and how many creates a transaction
takes."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from lmsform.providers.base import ProviderSettings

# Creates a batch holds at most: one transaction each (see `create_many`).
BATCH_SIZE = 500


class LocalSettings(ProviderSettings):
    path: str = "lms.sqlite"  # relative to the config directory
    batch_size: int = Field(BATCH_SIZE, ge=1, le=10_000)  # creates per transaction

    def moved(self, source: Path, target: Path) -> dict[str, str]:
        if Path(self.path).is_absolute():
            return {}
        return {"path": os.path.relpath((source / self.path).resolve(), target.resolve())}
