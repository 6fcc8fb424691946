"""Applying a plan: run its operations in dependency order, concurrently within a bound.

Provider calls run in a thread pool; everything else (the id table, the state) is touched
only by the scheduling thread, so it needs no locks. Each successful operation is recorded in
the state journal before the next is scheduled; on the first failure nothing new starts, the
running operations finish, and the state is saved with what did succeed.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from lmsform.diff import Change, changed_fields
from lmsform.errors import LmsformError
from lmsform.order import DependencyWalk
from lmsform.plan import Action, Operation, Plan
from lmsform.providers import recorded_identity
from lmsform.providers.base import Provider
from lmsform.resources import SENSITIVE, map_references, translate_references
from lmsform.secrets import Secrets
from lmsform.state import State, StateEntry

log = logging.getLogger(__name__)


@dataclass
class Failure:
    operation: Operation
    message: str
    error: BaseException


@dataclass
class ApplyResult:
    applied: list[Operation] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Operation] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C or SIGTERM: running operations finished, none started

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.interrupted


ProgressFn = Callable[[int, int, Operation, float], None]


class _Ids:
    """Address -> vendor id, to turn the plan's references back into what the LMS expects."""

    def __init__(self, plan: Plan, state: State) -> None:
        self.ids = {a: e.id for a, e in state.resources.items()}
        self.ids.update(plan.known_ids)
        for op in plan.operations:
            if op.id is not None and not op.action.retires:
                self.ids[op.address] = op.id

    def resolve(self, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
        return map_references(kind, attrs, self._id)

    def sent(self, op: Operation, secrets: dict[str, str]) -> dict[str, Any]:
        """What a create sends, made once: its attributes but those hidden, its write-only
        values, and its references as the LMS's ids."""
        attrs = {k: v for k, v in (op.after or {}).items() if v != SENSITIVE}
        attrs.update(secrets)
        translate_references(op.kind, attrs, self._id)
        return attrs

    def _id(self, kind: str, key: str) -> str:
        try:
            return self.ids[f"{kind}.{key}"]
        except KeyError:
            raise LmsformError(f"no LMS id known for {kind}.{key}") from None


def _call(provider: Provider, op: Operation, ids: _Ids, secrets: dict[str, str]) -> str | None:
    """One operation's provider calls (in a worker thread); returns the id it leaves behind."""
    kind = op.kind
    if op.action.creates:
        assert op.after is not None
        attrs = ids.sent(op, secrets)
        if op.action == Action.REPLACE:
            assert op.id is not None
            provider.delete(kind, op.id)
        return provider.create(kind, attrs)
    assert op.id is not None
    if op.action == Action.UPDATE:
        assert op.after is not None and op.before is not None
        fields = changed_fields(op.changes)
        changes = ids.resolve(kind, {f: secrets.get(f, op.after.get(f)) for f in fields})
        before = ids.resolve(kind, {f: op.before.get(f) for f in fields})
        provider.update(kind, op.id, changes, before)
    elif op.action == Action.DELETE:
        provider.delete(kind, op.id)
    elif op.action == Action.DEACTIVATE:
        provider.deactivate(kind, op.id)
    return op.id


Outcome = str | None | BaseException  # an operation's new id, or why it failed


def _next_batch(walk: DependencyWalk[str], operations: dict[str, Operation],
                provider: Provider) -> list[Operation]:
    """The next ready operation, with the ready creates of its kind that follow it when the
    provider creates that kind in batches (`KindSupport.batch_create`)."""
    first = operations[walk.pop()]
    size = provider.batch_size(first.kind)
    batch = [first]
    if first.action != Action.CREATE:
        return batch
    while len(batch) < size and walk.has_ready():
        following = operations[walk.peek()]
        if following.action != Action.CREATE or following.kind != first.kind:
            break
        batch.append(operations[walk.pop()])
    return batch


def _call_batch(provider: Provider, batch: list[Operation], ids: _Ids,
                secrets: dict[str, dict[str, str]]) -> list[Outcome]:
    """One operation, or a batch of creates, in a worker thread: an outcome for each."""
    if len(batch) == 1:
        op = batch[0]
        try:
            return [_call(provider, op, ids, secrets.get(op.address, {}))]
        except Exception as exc:
            return [exc]
    items = [ids.sent(op, secrets.get(op.address, {})) for op in batch]
    try:
        return list(provider.create_many(batch[0].kind, items))
    except Exception as exc:
        return [exc] * len(batch)


def _record(state: State, op: Operation, new_id: str | None,
            held: set[str] | None = None) -> None:
    """What a finished operation means for the state. `held`: the fields of an update
    applied in part (`--scheduled-only`) whose change was left for review: they keep what
    the state recorded, so that it still tells a change in the LMS from an edit."""
    after = op.after or {}
    # the operation's own dict where nothing is left out: for 100k creates, the manifests'
    # (shared, so nothing changes it in place: `held` changes a copy)
    attributes = after if not held and SENSITIVE not in after.values() else \
        {k: v for k, v in after.items() if v != SENSITIVE}
    if held:
        prior = state.resources.get(op.address)
        recorded = prior.attributes if prior is not None else {}
        applied = {c.field: c for c in op.changes}
        for name in held:
            if name in recorded:
                attributes[name] = _with_items_applied(recorded[name], applied.get(name))
            else:
                attributes.pop(name, None)
    if op.action == Action.DEACTIVATE:  # removed, but still there: remembered as such
        assert op.id is not None
        state.put(op.address, StateEntry(kind=op.kind, id=op.id, attributes=attributes,
                                         removed=True))
        return
    if op.action.retires:
        state.remove(op.address)
        return
    assert new_id is not None
    state.put(op.address, StateEntry(kind=op.kind, id=new_id, attributes=attributes,
                                     prevent_destroy=op.prevent_destroy))
    if op.moved_from and op.moved_from != op.address:
        state.remove(op.moved_from)


def _record_instant(state: State, plan: Plan, result: ApplyResult) -> None:
    """The instant a complete apply was planned for (`StateFile.planned_at`): a start that
    passed after it is time's doing for `--scheduled-only`. A partial apply (a failure, an
    interruption, --target or --exclude) leaves it as it was, and it never moves back (an
    apply planned for an earlier `LMSFORM_NOW`)."""
    complete = not result.failed and not result.interrupted and not plan.targets \
        and not plan.excludes
    if complete and plan.instant is not None and (
            state.data.planned_at is None or plan.instant > state.data.planned_at):
        state.data.planned_at = plan.instant


def _with_items_applied(recorded: Any, change: Change | None) -> Any:
    """A held list's record with the items the applied part put in or took out (an
    enrollment time ended, beside one an edit adds): the record then says what the LMS
    holds of what lmsform did, and the edit is still an edit, not drift."""
    if change is None or not all(isinstance(v, list) for v in
                                 (recorded, change.before, change.after)):
        return recorded
    removed = set(change.before) - set(change.after)
    return sorted((set(recorded) - removed) | (set(change.after) - set(change.before)))


def _held(plan: Plan) -> dict[str, set[str]]:
    """Per address, the fields of an update whose change a --scheduled-only plan left for
    review (`Plan.left_for_review`): applying the rest leaves their record as it was."""
    return {op.address: changed_fields(op.changes) for op in plan.left_for_review
            if op.action == Action.UPDATE}


def _failure_message(op: Operation, exc: BaseException, known: Secrets,
                     sent: dict[str, str]) -> str:
    """What went wrong, with every secret the config knows, and the write-only values this
    operation sent, redacted: a provider's message may echo what it was sent."""
    what = str(exc) if isinstance(exc, LmsformError) else f"{type(exc).__name__}: {exc}"
    return known.redact(f"{op.address}: {op.action} failed: {what}", sent.values())


@contextlib.contextmanager
def _stop_on_signals(result: ApplyResult, stopping: Callable[[str], None] | None
                     ) -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM (how CI cancels a job) stop new operations from starting; the
    running ones finish and are recorded, so nothing the LMS did is lost from state.

    The handler only takes note: it runs between any two bytecodes of the main thread,
    which may be writing to the same stream. What it yields, called by the main thread as
    it waits, tells the user once (`stopping(signal name)`; a log warning by default)."""
    caught: list[str] = []

    def tell() -> None:
        if len(caught) == 1:
            caught.append("told")
            if stopping is None:
                log.warning("%s: finishing the operations under way, starting no more",
                            caught[0])
            else:
                stopping(caught[0])

    if threading.current_thread() is not threading.main_thread():
        yield tell
        return

    def stop(signum: int, frame: Any) -> None:
        if not caught:
            caught.append(signal.Signals(signum).name)
        result.interrupted = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield tell
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def apply_plan(
    plan: Plan,
    state: State,
    provider: Provider,
    secrets: dict[str, dict[str, str]],
    *,
    parallelism: int = 8,
    progress: ProgressFn | None = None,
    stopping: Callable[[str], None] | None = None,
    waiting: Callable[[], None] | None = None,
    known: Secrets | None = None,
) -> ApplyResult:
    """Run the plan. `secrets` holds write-only values (passwords) by address; `known`,
    every secret of the config, is redacted from failure messages. `waiting` is called
    each time the loop waits for operations to finish (at least every quarter second).

    The caller holds the state lock.
    """
    result = ApplyResult()
    known = known or Secrets(())
    operations = {op.address: op for op in plan.operations}
    order = {address: i for i, address in enumerate(operations)}
    walk = DependencyWalk(operations, {a: op.depends_on for a, op in operations.items()})
    ids = _Ids(plan, state)
    held = _held(plan)
    state.data.provider = recorded_identity(provider)
    total, done = len(operations), 0
    started: dict[Future[list[Outcome]], float] = {}  # a batch's operations start together

    # signals taken note of until the state is saved: Ctrl-C during the last save is an
    # interruption the report tells, never an exception that cuts the save short
    with _stop_on_signals(result, stopping) as tell_interruption, state.journaling(), \
            ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        running: dict[Future[list[Outcome]], list[Operation]] = {}
        while walk.has_ready() or running:
            tell_interruption()
            while (walk.has_ready() and len(running) < parallelism and not result.failed
                   and not result.interrupted):
                batch = _next_batch(walk, operations, provider)
                future = pool.submit(_call_batch, provider, batch, ids, secrets)
                running[future], started[future] = batch, time.monotonic()
            if not running:
                break
            if waiting is not None:
                waiting()
            # woken now and then to say that Ctrl-C was heard, while a slow call runs
            finished, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: order[running[f][0].address]):
                batch = running.pop(future)
                seconds = time.monotonic() - started.pop(future)
                with state.together():  # the batch's records in one write
                    for op, outcome in zip(batch, future.result(), strict=True):
                        if isinstance(outcome, BaseException):
                            failure = Failure(op, _failure_message(
                                op, outcome, known, secrets.get(op.address, {})), outcome)
                            log.info("%s after %.2fs", failure.message, seconds)
                            result.failed.append(failure)
                            continue
                        log.info("%s %s: done in %.2fs", op.action, op.address, seconds)
                        _record(state, op, outcome, held.get(op.address))
                        if outcome is not None:
                            ids.ids[op.address] = outcome
                        result.applied.append(op)
                        done += 1
                        if progress is not None:
                            progress(done, total, op, seconds)
                        walk.done(op.address)
            if finished:
                state.sync()  # what finished is durable before anything new starts
        tell_interruption()
        _record_instant(state, plan, result)
    finished_addresses = {op.address for op in result.applied}
    finished_addresses |= {f.operation.address for f in result.failed}
    result.skipped = [op for a, op in operations.items() if a not in finished_addresses]
    return result
