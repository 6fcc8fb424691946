"""Reading the LMS: every listable kind listed in the background from the moment the checks
that need no LMS are done, so that the listings (pages over the network, for a vendor) come
in while the caller loads the state; a kind the LMS cannot list is read by the ids state
records, and found by key where state knows nothing. Also the check that the state belongs
to this LMS, before anything of it is believed."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lmsform import kinds
from lmsform.config import Config
from lmsform.errors import LmsformError, ProviderError
from lmsform.planning.capabilities import check_capabilities, without_unsupported
from lmsform.planning.options import PlanOptions
from lmsform.providers import recorded_identity
from lmsform.providers.base import Provider
from lmsform.resources import (
    LiveResource,
    split_address,
)
from lmsform.state import State

log = logging.getLogger(__name__)


def read_one_by_one(provider: Provider, timings: dict[str, tuple[int, float]]) -> list[str]:
    """What reading a kind the LMS cannot list cost, so that a reviewer of a large plan
    knows why it took as long as it did, and what a larger one would take."""
    notes = []
    for kind, (count, seconds) in timings.items():
        if provider.capabilities.kinds[kind].listable or not count:
            continue
        notes.append(f"{kind}s: the LMS cannot list them, so the {count:,} lmsform knows "
                     f"were read one by one, in {seconds:.1f} s (about "
                     f"{seconds / count * 1000:,.0f} s per 1,000)")
    return notes


class LiveRead:
    """The LMS being read in the background: every listable kind is listed from the moment
    reading starts, so the listings (pages over the network, for a vendor) come in while the
    caller loads the state; a kind the LMS cannot list waits for the ids state records
    (`result`). Made by `start_reading`, after the checks that need no LMS."""

    def __init__(self, provider: Provider, kinds: list[str], parallelism: int) -> None:
        self.provider, self.kinds, self.parallelism = provider, kinds, parallelism
        self.source: tuple[Config, PlanOptions] | None = None  # what it was started for
        # the manifests as `start_reading` checked them, and what --drop-unsupported left out
        self.checked: Config | None = None
        self.dropped: list[str] = []
        self.timings: dict[str, tuple[int, float]] = {}  # per kind: how many, in how long
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(self.kinds))))
        self._futures = {kind: self._pool.submit(self._timed, kind, provider.list_all, kind)
                         for kind in self.kinds
                         if provider.capabilities.kinds[kind].listable}

    def __enter__(self) -> LiveRead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the reads not started and wait for those running: after an error, the
        provider is closed next, and must not be while a listing still uses it."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def unlistable(self) -> set[str]:
        """The kinds read by id once state is known (`result`)."""
        return set(self.kinds) - self._futures.keys()

    def result(self, recorded: dict[str, dict[str, str]] | None = None,
               declared: dict[str, list[str]] | None = None) -> dict[str, list[LiveResource]]:
        """Every kind, read once: the listings, and for a kind the LMS cannot list, the ids
        state `recorded` (kind -> key -> id) read back and the `declared` keys state does
        not know looked up one by one."""
        recorded, declared = recorded or {}, declared or {}
        for kind in self.kinds:
            if kind not in self._futures:
                self._futures[kind] = self._pool.submit(
                    self._timed, kind, _read_unlistable, self.provider, kind,
                    recorded.get(kind, {}), declared.get(kind, []), self.parallelism)
        live: dict[str, list[LiveResource]] = {}
        try:
            for kind in self.kinds:
                live[kind] = self._futures[kind].result()
        except ProviderError as exc:
            raise ProviderError(f"reading {kind}s: {exc.call}", exc.vendor_message,
                                status=exc.status) from None
        finally:
            self.close()
        return live

    def _timed(self, kind: str, read: Callable[..., list[LiveResource]],
               *args: Any) -> list[LiveResource]:
        start = time.monotonic()
        found = read(*args)
        seconds = time.monotonic() - start
        log.info("read %d %ss in %.2fs", len(found), kind, seconds)
        self.timings[kind] = (len(found), seconds)
        return found


def start_reading(config: Config, provider: Provider, options: PlanOptions) -> LiveRead:
    """Check what the manifests ask of the provider, which needs no LMS (and fails before
    any call), then start reading the LMS for `make_plan` (with the same config and
    options)."""
    source = config
    dropped: list[str] = []
    if options.drop_unsupported:
        config, dropped = without_unsupported(config, provider)
    if not options.refresh_only:  # drift concerns the LMS and state, not the manifests
        check_capabilities(config, provider)
    reading = LiveRead(provider, [k for k in kinds.names() if k in provider.capabilities.kinds],
                       options.parallelism)
    reading.source, reading.checked, reading.dropped = (source, options), config, dropped
    return reading


def fetch_live(provider: Provider, kinds: list[str], parallelism: int,
               recorded: dict[str, dict[str, str]] | None = None,
               ) -> dict[str, list[LiveResource]]:
    """These kinds read at once (`LiveRead.result`), for export."""
    with LiveRead(provider, kinds, parallelism) as reading:
        return reading.result(recorded)


def _read_unlistable(provider: Provider, kind: str, recorded: dict[str, str],
                     declared: list[str], parallelism: int) -> list[LiveResource]:
    found = provider.read(kind, sorted(set(recorded.values())))
    present = {live.id for live in found}
    missing = [key for key in declared if recorded.get(key) not in present]
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(missing)))) as pool:
            for live in pool.map(lambda key: provider.find(kind, key), missing):
                if live is not None and live.id not in present:
                    found.append(live)
                    present.add(live.id)
    return found


def known_keys(config: Config, state: State, kinds: set[str]
                ) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """What to read of the kinds the LMS cannot list: the ids state records (kind -> key ->
    id) and the keys the manifests declare (kind -> keys)."""
    recorded: dict[str, dict[str, str]] = defaultdict(dict)
    declared: dict[str, list[str]] = defaultdict(list)
    if not kinds:
        return recorded, declared  # every kind is listed: nothing to look up
    for address, entry in state.resources.items():
        if entry.kind in kinds:
            recorded[entry.kind][split_address(address)[1]] = entry.id
    for resource in config.resources.values():
        if resource.kind in kinds:
            declared[resource.kind].append(resource.key)
    return recorded, declared


def check_provider_identity(state: State, provider: Provider) -> list[str]:
    """Refuses a state of another LMS; warns when another release of the provider plugin
    last applied it (its behaviour may differ from the one that made the state)."""
    recorded = state.data.provider
    if recorded is None or not state.resources:
        return []
    if recorded.type != provider.type_name or not provider.is_instance(recorded.instance):
        raise LmsformError(
            f"the state at {state.backend.location()} belongs to {recorded.type} "
            f"'{recorded.instance}', but the manifests point at {provider.type_name} "
            f"'{provider.identity()}'; refusing to mix them"
        )
    installed = recorded_identity(provider).plugin
    if recorded.plugin is None or recorded.plugin == installed:
        return []
    return [f"the {provider.type_name} provider installed is {installed}; {recorded.plugin} "
            "last applied this state"]
