"""The engine: one plan or apply from start to finish, for any front end.

It reads straight through: open the state backend and the provider the manifests name, take
the lock (apply), load the state, plan or verify a saved plan, confirm, apply, save. Whatever
needs a person (showing the plan, confirming, progress) comes in as a callback, so the CLI
only parses flags and prints, and tests drive the same sequence the CLI does.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from lmsform import backends, drift, providers
from lmsform.apply import ApplyResult, ProgressFn, apply_plan
from lmsform.backends import StateBackend
from lmsform.config import Config
from lmsform.errors import LmsformError
from lmsform.plan import Plan
from lmsform.planning import PlanOptions, check_provider_identity, make_plan, start_reading
from lmsform.providers.base import Provider
from lmsform.state import State, StateEntry, copy_state

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """What one run of lmsform works on: the manifests, where their state is, and the LMS."""

    config: Config
    backend: StateBackend
    provider: Provider


@contextlib.contextmanager
def open_workspace(config: Config) -> Iterator[Workspace]:
    with contextlib.ExitStack() as opened:
        backend = backends.open_backend(config.state, config.directory)
        opened.callback(backend.close)
        provider = providers.open_provider(config.provider, config.directory,
                                           config.secrets())
        opened.callback(provider.close)
        log.info("config directory %s; state: %s backend at %s; provider: %s",
                 config.directory, config.state.backend, backend.location(),
                 provider.identity())
        yield Workspace(config, backend, provider)


@contextlib.contextmanager
def open_state(config: Config, *, lock: str | None = None,
               lock_timeout: float = 0.0) -> Iterator[State]:
    """The state of a config directory, under the lock when `lock` names an operation;
    for the state commands, which need no LMS."""
    backend = backends.open_backend(config.state, config.directory)
    try:
        with (backends.hold_lock(backend, lock, lock_timeout) if lock
              else contextlib.nullcontext()):
            yield State.load(backend, secrets=config.secrets())
    finally:
        backend.close()


def migrate_state(config: Config, target: backends.BackendSettings, *, force: bool = False,
                  lock_timeout: float = 0.0) -> State:
    """Move the state of a config directory to another backend (`state migrate`), under
    both locks, keeping its lineage and serial; the manifests' `state:` block is then the
    user's to change. The state as moved."""
    with open_state(config, lock="state migrate", lock_timeout=lock_timeout) as source:
        destination = backends.open_backend(target, config.directory)
        try:
            if destination.location() == source.backend.location():
                raise LmsformError("the target is the state itself")
            with backends.hold_lock(destination, "state migrate", lock_timeout):
                copy_state(source, destination, force=force)
        finally:
            destination.close()
        return source


def import_resource(config: Config, address: str, resource_id: str, *,
                    lock_timeout: float = 0.0) -> None:
    """Adopt one live resource, by its LMS id, as the manifests' `address` (`lmsform
    import`): recorded in the state with nothing applied, so that the next plan shows how it
    differs from the manifests. The id must exist in the LMS and be managed by no address."""
    resource = config.resources.get(address)
    if resource is None:
        raise LmsformError(f"{address} is not declared in the manifests; declare it, then "
                           "import it")
    with open_workspace(config) as ws, backends.hold_lock(ws.backend, "import", lock_timeout):
        state = State.load(ws.backend, secrets=config.secrets())
        check_provider_identity(state, ws.provider)
        entry = state.resources.get(address)
        if entry is not None:
            raise LmsformError(f"{address} is managed already (id {entry.id}); "
                               "`lmsform state rm` it first to import another")
        for other, managed in state.resources.items():
            if managed.kind == resource.kind and managed.id == resource_id:
                raise LmsformError(f"the {resource.kind} with id {resource_id} is managed "
                                   f"already, as {other}")
        if not _exists(ws.provider, resource.kind, resource_id):
            raise LmsformError(f"the LMS has no {resource.kind} with id {resource_id}; "
                               "nothing was imported")
        state.data.provider = providers.recorded_identity(ws.provider)
        state.put(address, StateEntry(kind=resource.kind, id=resource_id))
        state.save()


def _exists(provider: Provider, kind: str, resource_id: str) -> bool:
    support = provider.capabilities.kinds.get(kind)
    if support is None:
        raise LmsformError(f"the {provider.type_name} provider does not manage {kind}s")
    if not support.listable:
        return bool(provider.read(kind, [resource_id]))
    return any(live.id == resource_id for live in provider.list_all(kind))


def plan(config: Config, options: PlanOptions) -> Plan:
    """What apply would do now; reads the state without locking it (while the LMS is
    being read)."""
    with open_workspace(config) as ws:
        made = _plan_reading(config, ws, options)[1]
    made.sign(config.signing_key())
    return made


def _plan_reading(config: Config, ws: Workspace, options: PlanOptions) -> tuple[State, Plan]:
    """The state and a fresh plan, the LMS read while the state loads."""
    with start_reading(config, ws.provider, options) as reading:
        planned = reading.checked or config  # less what --drop-unsupported leaves out
        state = State.load(ws.backend, share_with={a: r.attrs for a, r in
                                                   planned.resources.items()},
                           secrets=config.secrets())
        return state, make_plan(config, state, ws.provider, options, reading)


@dataclass
class ApplyHooks:
    """What a front end does at each step of an apply."""

    show: Callable[[Plan], None] = lambda plan: None
    confirm: Callable[[Plan], None] = lambda plan: None  # raise LmsformError to cancel
    starting: Callable[[], None] = lambda: None  # just before the first LMS call
    progress: ProgressFn | None = None
    stopping: Callable[[str], None] | None = None  # Ctrl-C or SIGTERM (its name) mid-apply
    waiting: Callable[[], None] | None = None  # now and then while the LMS works


def apply(config: Config, options: PlanOptions, *, saved: Plan | None = None,
          force: bool = False, hooks: ApplyHooks | None = None,
          lock_timeout: float = 0.0) -> ApplyResult | None:
    """Plan (or verify `saved`), confirm and apply under the state lock; None when there
    was nothing to do. A saved plan was confirmed when it was reviewed: it is not asked."""
    hooks = hooks or ApplyHooks()
    if saved is not None and saved.refresh_only:
        raise LmsformError("this is a --refresh-only plan: it reports drift and applies "
                           "nothing; accept drift with `lmsform apply --refresh-only`")
    with open_workspace(config) as ws, backends.hold_lock(ws.backend, "apply", lock_timeout):
        if saved is not None:
            state = State.load(ws.backend, secrets=config.secrets())
            the_plan = verify_saved_plan(saved, config, state, ws.provider, options)
        else:
            state, the_plan = _plan_reading(config, ws, options)
        hooks.show(the_plan)
        if not the_plan.has_changes:
            return None
        if the_plan.violates_policy:
            raise LmsformError("this plan violates a mandatory policy (see 'Policy "
                               "violations' above); nothing was applied. No flag overrides a "
                               "policy: change the manifests, or the policy through review")
        if the_plan.blocked and not force:
            raise LmsformError("this plan exceeds a safety limit (see 'blocked' above); "
                               "nothing was applied. Re-run with --force if it is intended")
        if saved is None:
            hooks.confirm(the_plan)
        secrets = config.write_only(config.secrets())
        hooks.starting()
        return apply_plan(the_plan, state, ws.provider, secrets,
                          parallelism=options.parallelism, progress=hooks.progress,
                          stopping=hooks.stopping, waiting=hooks.waiting,
                          known=config.secrets())


def refresh(config: Config, options: PlanOptions, *, hooks: ApplyHooks | None = None,
            force: bool = False, lock_timeout: float = 0.0) -> int | None:
    """Accept drift into state (`apply --refresh-only`): under the lock, find what the LMS
    changed outside lmsform, confirm, and make state hold the LMS's values; the LMS is not
    written. The number of resources whose record changed; None when there was no drift."""
    hooks = hooks or ApplyHooks()
    with open_workspace(config) as ws, \
            backends.hold_lock(ws.backend, "apply --refresh-only", lock_timeout):
        options = PlanOptions(options.targets, options.excludes, options.max_deletes,
                              options.parallelism, refresh_only=True)
        state, the_plan = _plan_reading(config, ws, options)
        hooks.show(the_plan)
        if not the_plan.drift:
            return None
        if the_plan.blocked and not force:
            raise LmsformError("this refresh exceeds a safety limit (see 'blocked' above); "
                               "the state was not changed. Re-run with --force if it is "
                               "intended")
        hooks.confirm(the_plan)
        with state.journaling():
            drift.accept(state, the_plan.drift)
        return len(the_plan.drift)


def verify_saved_plan(saved: Plan, config: Config, state: State, provider: Provider,
                      options: PlanOptions) -> Plan:
    """The plan to run for a saved one: a fresh plan, made now with the saved plan's
    selection and the stricter of both deletion limits, that must match the saved one
    operation for operation and field for field. A saved file is a promise to check, never
    an instruction: what runs is always what lmsform itself planned, and the safety limits
    are judged now. Where the config has credentials the file must also carry their
    signature, so that an edit that keeps every field consistent (a deletion limit taken
    out together with the reason it blocked) is refused too."""
    key = config.signing_key()
    if key is not None and not saved.signed_with(key):
        raise LmsformError(
            "this plan file was edited, or made with other credentials than this config's "
            "(its signature does not match); nothing was applied. Run `lmsform plan` again")
    recorded = (saved.state.lineage, saved.state.serial) if saved.state else None
    if recorded != state.version:
        then = "/".join(map(str, recorded)) if recorded else "none"
        current = "/".join(map(str, state.version))
        raise LmsformError(
            f"the state changed since this plan was made (lineage/serial {then} -> {current}); "
            "nothing was applied. Run `lmsform plan` again"
        )
    limits = [n for n in (saved.max_deletes, options.max_deletes) if n is not None]
    fresh = make_plan(config, state, provider, PlanOptions(
        saved.targets, saved.excludes, min(limits, default=None), options.parallelism,
        drop_unsupported=saved.drop_unsupported, scheduled_only=saved.scheduled_only,
        now=options.now))
    if fresh.provider != saved.provider:
        raise LmsformError("this plan was made for another LMS; nothing was applied")
    differing = _differences(saved, fresh)
    if differing:
        shown = ", ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
        raise LmsformError(
            f"the LMS or the manifests changed since this plan was made ({shown}), or the "
            "plan file was edited; nothing was applied. Run `lmsform plan` again"
        )
    return fresh


def _differences(saved: Plan, fresh: Plan) -> list[str]:
    """Addresses (or plan fields) where two plans differ, compared in canonical form. What
    bears on what apply may do is compared too: the selection, what --drop-unsupported left
    out, the warnings, and the safety limits, of which the fresh plan may find more (a
    stricter --max-deletes now) but never fewer than the file shows."""
    promised = {op.address: canonical(op) for op in saved.operations}
    now = {op.address: canonical(op) for op in fresh.operations}
    differing = sorted(a for a in promised.keys() | now.keys() if promised.get(a) != now.get(a))
    if [op.address for op in saved.operations] != [op.address for op in fresh.operations]:
        differing.append("the order of operations")
    for name in ("known_ids", "targets", "excludes", "dropped", "warnings"):
        if canonical(getattr(saved, name)) != canonical(getattr(fresh, name)):
            differing.append(name)
    if not set(saved.blocked) <= set(fresh.blocked):
        differing.append("blocked")
    return differing


def canonical(value: Any) -> str:
    """JSON with sorted keys: the same data always gives the same text, whatever the order
    dictionaries were built in (which can follow the hash seed)."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
