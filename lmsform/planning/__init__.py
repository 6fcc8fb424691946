"""Planning: compare the manifests with the live LMS and the state, and decide what to do.

Stages, a module each, with a value passed from one to the next:

1. `capabilities`: what the manifests ask of the provider, checked offline (and, with
   --drop-unsupported, what it cannot hold left out and listed);
2. `reading`: every listable kind read in the background from the start, while the caller
   loads the state; the kinds the LMS cannot list, read by the ids state records
   (`LiveRead` -> the live resources, by kind);
3. `timing` and `matching`: the manifests as they are at the plan's instant (time bounds
   applied); then kind by kind, referenced kinds first, desired resources matched to live ones
   (by state, then by natural key), diffed, and removals, adoptions and what is left
   unmanaged decided (`Matched`);
4. `finishing`: the selection (--target, --exclude), the order, the secrets hidden, the
   safety limits: the `Plan`.
"""

from __future__ import annotations

from lmsform.config import Config
from lmsform.plan import Plan
from lmsform.planning.capabilities import check_capabilities, without_unsupported
from lmsform.planning.finishing import finish
from lmsform.planning.matching import match
from lmsform.planning.options import PlanOptions
from lmsform.planning.reading import (
    LiveRead,
    check_provider_identity,
    fetch_live,
    known_keys,
    start_reading,
)
from lmsform.planning.timing import at_instant
from lmsform.providers.base import Provider
from lmsform.state import State

__all__ = ["LiveRead", "PlanOptions", "check_capabilities", "check_provider_identity",
           "fetch_live", "make_plan", "start_reading", "without_unsupported"]


def make_plan(config: Config, state: State, provider: Provider,
              options: PlanOptions | None = None, reading: LiveRead | None = None) -> Plan:
    """The plan; `reading` is the LMS already being read (`start_reading`), or it is read
    now."""
    options = options or PlanOptions()
    with reading or start_reading(config, provider, options) as reading:
        assert reading.checked is not None and reading.source is not None \
            and reading.source[0] is config and reading.source[1] is options, \
            "a plan's reading comes from start_reading, for the same config and options"
        config = reading.checked
        # the manifests at the plan's instant
        config_now, timing = at_instant(config, options.now, state.planned_at)
        changed_plugin = check_provider_identity(state, provider)
        live = reading.result(*known_keys(config, state, reading.unlistable()))
    matched = match(config_now, state, provider, live, options, reading.kinds, timing)
    return finish(matched, config, state, provider, options, reading,
                  warnings=changed_plugin)
