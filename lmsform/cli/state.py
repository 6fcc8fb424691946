"""`lmsform state`: inspect and change what lmsform manages, without touching the LMS."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import click

from lmsform import backends, engine, kinds
from lmsform.cli.common import (
    _confirm,
    _load,
    _WholeSentences,
    config_dir_option,
    lock_timeout_option,
    variables_options,
)
from lmsform.config import state_block
from lmsform.errors import (
    LmsformError,
)
from lmsform.render import (
    inert,
)
from lmsform.resources import split_address
from lmsform.state import State


@click.group("state", cls=_WholeSentences)
def state() -> None:
    """Inspect and change the state: what lmsform manages."""


@state.command("list")
@config_dir_option
@variables_options
def state_list(config_dir: Path) -> None:
    """Every managed address, with its LMS id."""
    with engine.open_state(_load(config_dir, offline=True)) as the_state:
        entries = sorted(the_state.resources.items(),
                         key=lambda kv: (kinds.rank(kv[1].kind), kv[0]))
    for address, entry in entries:
        click.echo(f"{address}\t{entry.id}")


def _matching(the_state: State, patterns: tuple[str, ...]) -> list[str]:
    """The managed addresses the patterns name (globs, as --target takes); every pattern
    must name at least one."""
    unmatched = [p for p in patterns
                 if not any(fnmatch.fnmatchcase(a, p) for a in the_state.resources)]
    if unmatched:
        raise LmsformError(f"not in the state: {', '.join(unmatched)}")
    return sorted((a for a in the_state.resources
                   if any(fnmatch.fnmatchcase(a, p) for p in patterns)),
                  key=lambda a: (kinds.rank(the_state.resources[a].kind), a))


@state.command("show")
@click.argument("patterns", nargs=-1, required=True, metavar="ADDRESS...")
@config_dir_option
@variables_options
def state_show(patterns: tuple[str, ...], config_dir: Path) -> None:
    """Managed resources as recorded (addresses or glob patterns)."""
    with engine.open_state(_load(config_dir, offline=True)) as the_state:
        shown = [{"address": a, **the_state.resources[a].dump()}
                 for a in _matching(the_state, patterns)]
    click.echo(json.dumps(shown[0] if len(shown) == 1 else shown, indent=2))


@state.command("rm")
@click.argument("patterns", nargs=-1, required=True, metavar="ADDRESS...")
@config_dir_option
@variables_options
@click.option("--auto-approve", is_flag=True, help="Remove several without asking.")
@lock_timeout_option
def state_rm(patterns: tuple[str, ...], config_dir: Path, auto_approve: bool,
             lock_timeout: float) -> None:
    """Stop managing resources (addresses or glob patterns), leaving them in the LMS."""
    with engine.open_state(_load(config_dir, offline=True), lock="state rm",
                           lock_timeout=lock_timeout) as the_state:
        addresses = _matching(the_state, patterns)
        if len(addresses) > 1 and not auto_approve:
            click.echo("\n".join(["These will no longer be managed (the LMS keeps them):",
                                   *(f"  {inert(a)}" for a in addresses)]))
            _confirm(f"Stop managing these {len(addresses)} resources?", "state rm")
        for address in addresses:
            the_state.remove(address)
        the_state.save()
    for address in addresses:
        click.echo(f"Removed {inert(address)}")
    click.echo(f"Removed {len(addresses)} from the state; the LMS is unchanged.")


@state.command("mv")
@click.argument("old")
@click.argument("new")
@config_dir_option
@variables_options
@lock_timeout_option
def state_mv(old: str, new: str, config_dir: Path, lock_timeout: float) -> None:
    """Give a managed resource a new address (a rename in the manifests)."""
    config = _load(config_dir, offline=True)
    try:
        old_kind, _ = split_address(old)
        new_kind, _ = split_address(new)
    except ValueError as exc:
        raise LmsformError(str(exc)) from None
    if old_kind != new_kind:
        raise LmsformError(f"cannot move a {old_kind} to a {new_kind}")
    with engine.open_state(config, lock="state mv", lock_timeout=lock_timeout) as the_state:
        entry = the_state.resources.get(old)
        if entry is None:
            raise LmsformError(f"{old} is not in the state")
        if new in the_state.resources:
            raise LmsformError(f"{new} is already in the state")
        the_state.remove(old)
        the_state.put(new, entry)
        the_state.save()
    click.echo(f"Moved {old} to {new}.")


@state.command("migrate")
@config_dir_option
@variables_options
@click.option("--to", "target", required=True, metavar="STATE_BLOCK",
              help="The state block to move to, as YAML: '{backend: postgres, dsn: "
                   "${env:LMSFORM_STATE_DSN}, name: acme}' or '{backend: file, path: s.json}'.")
@click.option("--force", is_flag=True, help="Replace a state the target holds already.")
@lock_timeout_option
def state_migrate(config_dir: Path, target: str, force: bool, lock_timeout: float) -> None:
    """Move the state to another backend, keeping its lineage and serial; then point the
    manifests' `state:` block at it."""
    config = _load(config_dir)
    moved = engine.migrate_state(config, state_block(target), force=force,
                                 lock_timeout=lock_timeout)
    click.echo(f"Moved the state ({len(moved.resources)} resources, lineage {moved.lineage}, "
               f"serial {moved.serial}) to the new backend. Now set the manifests' `state:` "
               "block to it; the old state is left as it was.")


@state.command("unlock")
@config_dir_option
@variables_options
@click.option("--force", is_flag=True, required=True,
              help="Required: confirms no lmsform is running against this state.")
def state_unlock(config_dir: Path, force: bool) -> None:
    """Release a lock left by an lmsform that died."""
    config = _load(config_dir, offline=True)
    backend = backends.open_backend(config.state, config.directory)
    try:
        info = backend.lock_holder()
        released = backend.force_unlock()
    finally:
        backend.close()
    if not released:
        click.echo("The state was not locked.")
        return
    holder = f" (held by {info.get('owner')}, pid {info.get('pid')})" if info else ""
    click.echo(f"Released the state lock{holder}.")


# simulators
