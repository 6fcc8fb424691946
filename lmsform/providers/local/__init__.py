"""`local`: an embedded LMS in one SQLite file, to try lmsform with no account.

It behaves like a real LMS on purpose: it assigns its own ids (never reusing a deleted
resource's, in files it creates), keeps server-side fields (creation time), enforces unique
emails, usernames and coupon codes, refuses to delete a department that still has users or a
region that still has divisions, and cannot change a coupon's code once issued (so such a
change plans as a replace). A kind it has no table of its own for (one a plugin or a test
registers) is kept whole, as JSON, in one table for every such kind.
"""

from lmsform.providers.local.database import SCHEMA, LocalDatabase
from lmsform.providers.local.handlers import TABLES, EveryKind, Rows, Stored, Whole
from lmsform.providers.local.provider import LocalProvider
from lmsform.providers.local.settings import BATCH_SIZE, LocalSettings

__all__ = ["BATCH_SIZE", "SCHEMA", "TABLES", "EveryKind", "LocalDatabase", "LocalProvider",
           "LocalSettings", "Rows", "Stored", "Whole"]
