"""The `lmsform` command line.

Every command that reads manifests takes `-C DIR`. Errors are one clear message and exit 1;
tracebacks only with --debug.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from lmsform import __version__, providers
from lmsform.apply import ApplyResult, apply_plan
from lmsform.config import Config, load_config
from lmsform.errors import LmsformError, ManifestError
from lmsform.manifest import KINDS, ManifestFile
from lmsform.plan import SYMBOLS, Operation, Plan
from lmsform.planner import PlanOptions, check_capabilities, make_plan
from lmsform.providers.base import Provider
from lmsform.resources import split_address
from lmsform.state import State, StateLock

PAST = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted",
        "deactivate": "deactivated", "adopt": "adopted", "move": "moved", "record": "recorded",
        "forget": "forgotten"}


class _Group(click.Group):
    """Turns lmsform's errors into messages and exit code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except LmsformError as exc:
            if ctx.meta.get("lmsform.debug"):
                traceback.print_exc()
            message = str(exc)
            click.echo(message if isinstance(exc, ManifestError) or message.startswith("error:")
                       else f"error: {message}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug: say so plainly, traceback on request
            if ctx.meta.get("lmsform.debug"):
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc} "
                       "(run with --debug for the traceback)", err=True)
            ctx.exit(1)


config_dir_option = click.option(
    "-C", "config_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
    show_default=True, help="Directory holding the manifests (*.yaml, *.yml).",
)
parallelism_option = click.option(
    "--parallelism", type=click.IntRange(1, 256), default=8, show_default=True,
    help="How many independent operations (and listings) run at once.",
)


def _selection_options(func: Any) -> Any:
    func = click.option("--max-deletes", type=click.IntRange(min=0),
                        help="Refuse to apply (without --force) a plan removing more.")(func)
    func = click.option("--exclude", multiple=True, metavar="ADDR",
                        help="Leave out operations on these addresses (glob patterns).")(func)
    func = click.option("--target", multiple=True, metavar="ADDR",
                        help="Only plan operations on these addresses (glob patterns).")(func)
    return func


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmsform")
@click.option("-v", "--verbose", is_flag=True, help="Log what lmsform does (to stderr).")
@click.option("--debug", is_flag=True, help="Debug logging, and tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, debug: bool) -> None:
    """Declarative configuration for learning management systems."""
    ctx.meta["lmsform.debug"] = debug
    # Loading and planning allocate millions of long-lived objects and almost no garbage
    # cycles; Python's cyclic collector would rescan them over and over (it took a third of a
    # 50k-user plan). Commands that then run long switch it back on with _collect_garbage().
    gc.disable()
    ctx.call_on_close(_restore_garbage_collection)  # for callers that invoke lmsform in-process
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    _log_to_stderr(level)


def _log_to_stderr(level: int) -> None:
    """lmsform's own log lines only: other libraries' loggers may print URLs or payloads."""
    logger = logging.getLogger("lmsform")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)


def _collect_garbage() -> None:
    """Switch the collector back on, without rescanning what loading and planning built."""
    gc.freeze()
    gc.enable()


def _restore_garbage_collection() -> None:
    gc.unfreeze()
    gc.enable()


def main() -> None:
    cli(prog_name="lmsform")


def _load(config_dir: Path, *, offline: bool = False) -> Config:
    config = load_config(config_dir, offline=offline)
    for warning in config.warnings:
        click.echo(str(warning), err=True)
    return config


# validate


@cli.command()
@config_dir_option
def validate(config_dir: Path) -> None:
    """Check the manifests offline, and what the provider supports: no LMS, no credentials."""
    config = _load(config_dir, offline=True)
    check_capabilities(config, providers.load(config.provider.type))
    counts: dict[str, int] = {}
    for resource in config.resources.values():
        counts[resource.kind] = counts.get(resource.kind, 0) + 1
    described = ", ".join(f"{counts[k]} {k}{'s' if counts[k] != 1 else ''}"
                          for k in KINDS if k in counts) or "no resources"
    click.echo(f"The manifests are valid: {described}.")


# plan


@cli.command()
@config_dir_option
@_selection_options
@parallelism_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True, help="How to print the plan.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the plan to apply it later with `lmsform apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 with no changes, 2 with changes (1 is always an error).")
def plan(config_dir: Path, target: tuple[str, ...], exclude: tuple[str, ...],
         max_deletes: int | None, parallelism: int, as_json: bool, fmt: str, out: Path | None,
         detailed_exitcode: bool) -> None:
    """Show what apply would change in the LMS."""
    config = _load(config_dir)
    state = State.load(config.state_path)
    options = PlanOptions(list(target), list(exclude), max_deletes, parallelism)
    the_plan = _make_plan(config, state, options)
    _print_plan(the_plan, "json" if as_json else fmt)
    if out is not None:
        the_plan.save(out)
        click.echo(f"Saved the plan to {out}; apply it with `lmsform apply {out}`.", err=True)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


def _make_plan(config: Config, state: State, options: PlanOptions) -> Plan:
    provider = providers.open_provider(config.provider, config.directory)
    try:
        return make_plan(config, state, provider, options)
    finally:
        provider.close()


def _print_plan(the_plan: Plan, fmt: str) -> None:
    if fmt == "json":
        click.echo(the_plan.model_dump_json(indent=2))
    elif fmt == "markdown":
        click.echo(the_plan.render_markdown(), nl=False)
    else:
        click.echo(the_plan.render_text())


# apply


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@config_dir_option
@_selection_options
@parallelism_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--force", is_flag=True, help="Apply even when the plan exceeds a safety limit.")
def apply(plan_file: Path | None, config_dir: Path, target: tuple[str, ...],
          exclude: tuple[str, ...], max_deletes: int | None, parallelism: int,
          auto_approve: bool, force: bool) -> None:
    """Make the LMS match the manifests (or run a saved PLAN_FILE exactly)."""
    saved = Plan.load(plan_file) if plan_file is not None else None
    if saved is not None and saved.config_dir and config_dir == Path("."):
        config_dir = Path(saved.config_dir)
    config = _load(config_dir)
    with StateLock(config.state_path).held("apply"):
        state = State.load(config.state_path)
        provider = providers.open_provider(config.provider, config.directory)
        try:
            if saved is not None:
                the_plan = _check_saved_plan(saved, config, state, provider, parallelism)
            else:
                options = PlanOptions(list(target), list(exclude), max_deletes, parallelism)
                the_plan = make_plan(config, state, provider, options)
            click.echo(the_plan.render_text())
            if not the_plan.has_changes:
                return
            if the_plan.blocked and not force:
                raise LmsformError("this plan exceeds a safety limit (see 'blocked' above); "
                                   "nothing was applied. Re-run with --force if it is intended")
            if not auto_approve and saved is None:
                _confirm(len(the_plan.operations))
            secrets = {a: r.secrets for a, r in config.resources.items() if r.secrets}
            _collect_garbage()
            result = apply_plan(the_plan, state, provider, secrets, parallelism=parallelism,
                                progress=_progress_printer())
        finally:
            provider.close()
    _report(result)


def _check_saved_plan(saved: Plan, config: Config, state: State, provider: Provider,
                      parallelism: int) -> Plan:
    """A saved plan applies only to the state and LMS it was made against."""
    recorded = (saved.state.lineage, saved.state.serial) if saved.state else None
    if recorded != state.version:
        before = "/".join(map(str, recorded)) if recorded else "none"
        now = "/".join(map(str, state.version))
        raise LmsformError(
            f"the state changed since this plan was made (lineage/serial {before} -> {now}); "
            "nothing was applied. Run `lmsform plan` again"
        )
    options = PlanOptions(saved.targets, saved.excludes, None, parallelism)
    fresh = make_plan(config, state, provider, options)
    if fresh.provider != saved.provider:
        raise LmsformError("this plan was made for another LMS; nothing was applied")
    before = {op.address: _signature(op) for op in saved.operations}
    now = {op.address: _signature(op) for op in fresh.operations}
    differing = sorted(a for a in before.keys() | now.keys() if before.get(a) != now.get(a))
    if differing:
        shown = ", ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
        raise LmsformError(
            f"the LMS or the manifests changed since this plan was made ({shown}); nothing "
            "was applied. Run `lmsform plan` again"
        )
    return saved


def _signature(op: Operation) -> str:
    return op.model_dump_json(include={"action", "id", "changes", "before", "after"})


def _confirm(count: int) -> None:
    if not sys.stdin.isatty():
        raise LmsformError("no terminal to confirm on: re-run with --auto-approve, or apply a "
                           "saved plan (`lmsform plan --out FILE`, then `lmsform apply FILE`)")
    answer = click.prompt(f"Apply these {count} operations? Only 'yes' is accepted",
                          default="", show_default=False)
    if answer.strip() != "yes":
        raise LmsformError("apply cancelled; nothing was changed")


def _progress_printer() -> Any:
    tty = sys.stdout.isatty()

    def show(done: int, total: int, op: Operation, seconds: float) -> None:
        symbol = SYMBOLS[op.action][0]
        line = f"[{done}/{total}] {symbol} {op.address}: {op.action} done ({seconds:.2f}s)"
        if tty:
            click.echo(f"\r\033[K{line}", nl=done == total)
        else:
            click.echo(line)

    return show


def _report(result: ApplyResult) -> None:
    counts: dict[str, int] = {}
    for op in result.applied:
        counts[op.action] = counts.get(op.action, 0) + 1
    done = ", ".join(f"{n} {PAST[action]}" for action, n in counts.items()) or "nothing"
    if result.ok:
        click.echo(click.style(f"Apply complete: {done}.", fg="green", bold=True))
        return
    click.echo(f"Applied: {done}.", err=True)
    for failure in result.failed:
        click.echo(click.style(f"failed: {failure.message}", fg="red"), err=True)
    if result.skipped:
        names = ", ".join(op.address for op in result.skipped[:10])
        more = f" and {len(result.skipped) - 10} more" if len(result.skipped) > 10 else ""
        click.echo(f"skipped ({len(result.skipped)}): {names}{more}", err=True)
    raise LmsformError("apply did not finish; the state records what was applied. Fix the "
                       "cause and run apply again: it continues from there")


# state


@cli.group()
def state() -> None:
    """Inspect and change the state: what lmsform manages."""


def _state(config_dir: Path) -> State:
    return State.load(_load(config_dir, offline=True).state_path)


@state.command("list")
@config_dir_option
def state_list(config_dir: Path) -> None:
    """Every managed address, with its LMS id."""
    the_state = _state(config_dir)
    entries = sorted(the_state.resources.items(),
                     key=lambda kv: (KINDS.index(kv[1].kind), kv[0]))
    for address, entry in entries:
        click.echo(f"{address}\t{entry.id}")


@state.command("show")
@click.argument("address")
@config_dir_option
def state_show(address: str, config_dir: Path) -> None:
    """One managed resource as recorded."""
    entry = _state(config_dir).resources.get(address)
    if entry is None:
        raise LmsformError(f"{address} is not in the state")
    click.echo(json.dumps({"address": address, **entry.model_dump()}, indent=2))


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@config_dir_option
def state_rm(addresses: tuple[str, ...], config_dir: Path) -> None:
    """Stop managing resources, leaving them in the LMS."""
    path = _load(config_dir, offline=True).state_path
    with StateLock(path).held("state rm"):
        the_state = State.load(path)
        missing = [a for a in addresses if a not in the_state.resources]
        if missing:
            raise LmsformError(f"not in the state: {', '.join(missing)}")
        for address in addresses:
            the_state.remove(address)
        the_state.save()
    click.echo(f"Removed {len(addresses)} from the state; the LMS is unchanged.")


@state.command("mv")
@click.argument("old")
@click.argument("new")
@config_dir_option
def state_mv(old: str, new: str, config_dir: Path) -> None:
    """Give a managed resource a new address (a rename in the manifests)."""
    path = _load(config_dir, offline=True).state_path
    try:
        old_kind, _ = split_address(old)
        new_kind, _ = split_address(new)
    except ValueError as exc:
        raise LmsformError(str(exc)) from None
    if old_kind != new_kind:
        raise LmsformError(f"cannot move a {old_kind} to a {new_kind}")
    with StateLock(path).held("state mv"):
        the_state = State.load(path)
        entry = the_state.resources.get(old)
        if entry is None:
            raise LmsformError(f"{old} is not in the state")
        if new in the_state.resources:
            raise LmsformError(f"{new} is already in the state")
        the_state.remove(old)
        the_state.put(new, entry)
        the_state.save()
    click.echo(f"Moved {old} to {new}.")


@state.command("unlock")
@config_dir_option
@click.option("--force", is_flag=True, required=True,
              help="Required: confirms no lmsform is running against this state.")
def state_unlock(config_dir: Path, force: bool) -> None:
    """Release a lock left by an lmsform that died."""
    lock = StateLock(_load(config_dir, offline=True).state_path)
    info = lock.info()
    if not lock.force_release():
        click.echo("The state was not locked.")
        return
    holder = f" (held by {info.get('owner')}, pid {info.get('pid')})" if info else ""
    click.echo(f"Released the state lock{holder}.")


# simulators


@cli.group()
def simulate() -> None:
    """Run a vendor simulator on this machine, to try lmsform or test manifests in CI."""


@simulate.command("ilms")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--seed", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="JSON file of the groups and courses that exist (the API cannot create "
                   "them). Default: a small built-in set.")
@click.option("--org-id", default="99999", show_default=True)
@click.option("--api-login-id", default="sim-login", show_default=True)
@click.option("--transaction-key", default="sim-key", show_default=True)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0,
              help="Delay every answer by this much.")
@click.option("--fail-every", type=click.IntRange(min=0), default=0,
              help="Answer every Nth request with a 500 (writes: half after acting).")
@click.option("--drop-every", type=click.IntRange(min=0), default=0,
              help="Drop the connection on every Nth request (writes: after acting).")
@click.option("--rate-limit", type=click.FloatRange(min=0), default=0.0,
              help="Requests per second; above it answer 429 with Retry-After.")
def simulate_ilms(port: int, host: str, seed: Path | None, org_id: str, api_login_id: str,
                  transaction_key: str, latency_ms: float, fail_every: int, drop_every: int,
                  rate_limit: float) -> None:
    """The iLMS API, in memory."""
    from lmsform.simulators.base import Faults
    from lmsform.simulators.ilms import DEFAULT_SEED, IlmsSimulator

    _collect_garbage()
    simulator = IlmsSimulator(org_id, api_login_id, transaction_key, seed or DEFAULT_SEED,
                              Faults(latency_ms, fail_every, drop_every, rate_limit))
    url = simulator.start(port, host)
    click.echo(f"iLMS simulator listening on {url} (org {org_id}); Ctrl-C stops it.")
    click.echo(f"Request counts: {url}/_simulator/stats")
    simulator.wait()


# providers and schema


@cli.command("providers")
def providers_command() -> None:
    """What each installed provider can do."""
    for name, cls in providers.available().items():
        click.echo(click.style(f"{name}", bold=True) + f"  {cls.description}")
        for kind in KINDS:
            support = cls.capabilities.kinds.get(kind)
            if support is None:
                click.echo(f"  {kind:<11} not supported")
                continue
            operations = ", ".join(cls.capabilities.operations(kind)) or "read only"
            click.echo(f"  {kind:<11} {operations}")
            click.echo(f"  {'':<11} fields: {', '.join(sorted(support.fields))}")
            if support.required_on_create:
                required = ", ".join(sorted(support.required_on_create))
                click.echo(f"  {'':<11} required to create: {required}")
            if support.replace_fields:
                replace = ", ".join(sorted(support.replace_fields))
                click.echo(f"  {'':<11} replaced on change: {replace}")
        click.echo("")


@cli.command()
def schema() -> None:
    """JSON Schema of a manifest file, for editors."""
    document = ManifestFile.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "lmsform manifest"
    click.echo(json.dumps(document, indent=2))
