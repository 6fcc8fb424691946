"""The `local` provider as lmsform loads it: its name, its settings and its handlers (every
kind registered), over the SQLite file that the handlers read and write."""

from __future__ import annotations

from lmsform.providers.local.database import LocalDatabase
from lmsform.providers.local.handlers import EveryKind
from lmsform.providers.local.settings import LocalSettings


class LocalProvider(LocalDatabase):
    type_name = "local"
    description = "Embedded LMS in a SQLite file (quick start, tests)"
    settings_model = LocalSettings
    handlers = EveryKind()
