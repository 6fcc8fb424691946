"""The `lmsform` command line.

Every command that reads manifests takes `-C DIR`. Errors are one clear message and exit 1;
tracebacks only with --debug.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, ClassVar

import click
from click.core import ParameterSource

from lmsform import __version__, backends, engine, kinds, plugins, providers
from lmsform.apply import ApplyResult
from lmsform.checkout import config_dir_of, same_config
from lmsform.config import Config, load_config, state_block, variable_file
from lmsform.errors import (
    LmsformError,
    ManifestError,
    PlanError,
    Problem,
    display_path,
    reason,
)
from lmsform.plan import Action, Operation, Plan
from lmsform.planning import PlanOptions, check_capabilities
from lmsform.render import (
    RENDERERS,
    inert,
    render_markdown,
    render_summary,
    render_text,
)
from lmsform.resources import split_address
from lmsform.secrets import Secrets
from lmsform.state import State

SIMULATORS = "lmsform.simulators"
NO_SIMULATORS = ("no simulators are installed: they are the distribution lmsform-simulators, in "
                 "the simulators/ directory of lmsform's repository (from a checkout: pip "
                 "install ./simulators)")


class _UsageError(click.UsageError):
    """A usage error that exits 1: in CI, 2 must mean only "the plan has changes"."""

    exit_code = 1


class _WholeSentences(click.Group):
    """A group whose help lists each command's first sentence whole, wrapped (click would
    cut it at the terminal's width)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(limit=1_000))
                for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _Group(_WholeSentences):
    """Turns lmsform's errors into messages and exit code 1; --debug shows the traceback.
    Exit code 2 means only "this plan has changes": usage errors exit 1 like any other."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's flags
            raise _UsageError(exc.format_message(), exc.ctx) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if ctx.meta.get("lmsform.debug"):
                click.echo(_SECRETS.redact(traceback.format_exc()), err=True, nl=False)
            click.echo(_SECRETS.redact(_error_message(exc)), err=True)
            ctx.exit(1)


def _error_message(exc: Exception) -> str:
    """What the user reads of an error: lmsform's own as it is worded; the machine's (a
    read-only place, a full disk) in one line; anything else is a bug, said plainly."""
    if isinstance(exc, ManifestError | PlanError):
        return str(exc)  # in their own layout already
    if isinstance(exc, LmsformError):
        return f"error: {exc}"
    if isinstance(exc, OSError):
        where = f" ({display_path(Path(exc.filename))})" if exc.filename else ""
        return f"error: {reason(exc)}{where}"
    return (f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
            "traceback)")


class _Redacting(logging.Filter):
    """Every secret of the config this run loaded, masked in what lmsform prints: log lines,
    error messages, tracebacks (`Secrets.mask`; what came from outside was redacted where it
    came in)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets = Secrets(())

    def redact(self, text: str) -> str:
        return self.secrets.mask(text)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        shown = self.redact(text)
        if shown != text:
            record.msg, record.args = shown, ()
        return True


_SECRETS = _Redacting()


def _config_dir_before_command() -> Path:
    """`lmsform -C DIR plan` as `lmsform plan -C DIR`, as git and make take it."""
    return Path(click.get_current_context().meta.get("lmsform.config_dir", "."))


config_dir_option = click.option(
    "-C", "config_dir", type=click.Path(path_type=Path),
    default=_config_dir_before_command,
    help="Directory holding the manifests (*.yaml, *.yml); the working directory by default.",
)


def _remember_variables(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value:
        ctx.meta.setdefault("lmsform.variables", {})[param.name] = value


def variables_options(func: Any) -> Any:
    """`--var NAME=VALUE` and `--var-file FILE`: values for `vars:` for one run."""
    func = click.option(
        "--var", "var", multiple=True, metavar="NAME=VALUE", expose_value=False,
        callback=_remember_variables,
        help="A value for a variable of the config's vars: block, for this run (repeatable)."
    )(func)
    return click.option(
        "--var-file", "var_file", type=click.Path(path_type=Path, dir_okay=False),
        multiple=True, expose_value=False, callback=_remember_variables,
        help="A YAML mapping of vars: values for this run; --var wins over it.")(func)


def _variables() -> dict[str, str]:
    """What --var-file and --var give, the files first, in the order given."""
    given = click.get_current_context().meta.get("lmsform.variables", {})
    values: dict[str, str] = {}
    for path in given.get("var_file", ()):
        values.update(variable_file(path))
    for item in given.get("var", ()):
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise click.UsageError(f"--var takes NAME=VALUE, not {item!r}")
        values[name.strip()] = value
    return values


summary_option = click.option(
    "--summary", is_flag=True,
    help="Counts per kind and action instead of every operation, for long plans.")
parallelism_option = click.option(
    "--parallelism", type=click.IntRange(1, 256), default=8, show_default=True,
    help="How many independent operations (and listings) run at once.",
)

class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """Seconds, written `30s`, `2m`, `1h` or a plain number of seconds."""

    name = "duration"
    UNITS: ClassVar[dict[str, int]] = {"": 1, "s": 1, "m": 60, "h": 3600}

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
        if not match:
            self.fail(f"'{value}' is not a duration: write 30s, 2m or 1h", param, ctx)
        return float(match.group(1)) * float(self.UNITS[match.group(2)])


lock_timeout_option = click.option(
    "--lock-timeout", type=Duration(), default="0s", show_default=True,
    help="Wait this long for another lmsform holding the state lock (30s, 2m); then fail "
         "naming it.",
)
drop_unsupported_option = click.option(
    "--drop-unsupported", is_flag=True,
    help="Leave out, and list first, the kinds and fields this LMS cannot hold, instead of "
         "refusing them (moving to another vendor).",
)


def _selection_options(func: Any) -> Any:
    func = click.option("--max-deletes", type=click.IntRange(min=0),
                        help="Refuse to apply (without --force) a plan removing more.")(func)
    func = click.option("--exclude", multiple=True, metavar="ADDR",
                        help="Leave out operations on these addresses (glob patterns).")(func)
    func = click.option("--target", multiple=True, metavar="ADDR",
                        help="Only plan operations on these addresses (glob patterns).")(func)
    return func


def _set_level(ctx: click.Context, level: int) -> None:
    ctx.meta["lmsform.log_level"] = min(level, ctx.meta.get("lmsform.log_level", level))
    _log_to_stderr(ctx.meta["lmsform.log_level"])


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _set_level(ctx, logging.INFO)


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["lmsform.debug"] = True
        _set_level(ctx, logging.DEBUG)


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value or os.environ.get("NO_COLOR"):
        ctx.color = False


def _global_options() -> list[click.Option]:
    """Options every command takes, before or after its name (`lmsform plan -C x -v`)."""
    flags = {"is_flag": True, "expose_value": False, "is_eager": True}
    return [
        click.Option(["-v", "--verbose"], callback=_verbose,
                     help="Log what lmsform does (to stderr).", **flags),
        click.Option(["--debug"], callback=_debug,
                     help="Debug logging, and tracebacks on errors.", **flags),
        click.Option(["--no-color"], callback=_no_color,
                     help="No colour, even on a terminal (also: NO_COLOR set).", **flags),
    ]


def _remember_config_dir(ctx: click.Context, param: click.Parameter, value: Path | None
                         ) -> None:
    if value is not None:
        ctx.meta["lmsform.config_dir"] = value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmsform")
@click.option("-C", "config_dir", type=click.Path(path_type=Path),
              expose_value=False, callback=_remember_config_dir, metavar="DIR",
              help="Directory holding the manifests, for any command (also after its name).")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Declarative configuration for learning management systems."""
    # Loading and planning allocate millions of long-lived objects and almost no garbage
    # cycles; Python's cyclic collector would rescan them over and over (it took a third of a
    # 50k-user plan). Commands that then run long switch it back on with _collect_garbage().
    gc.disable()
    ctx.call_on_close(_restore_garbage_collection)  # for callers that invoke lmsform in-process
    _SECRETS.secrets = Secrets(())  # until this run loads a config
    _terminate_like_interrupt(ctx)
    _log_to_stderr(ctx.meta.get("lmsform.log_level", logging.WARNING))


def _terminate_like_interrupt(ctx: click.Context) -> None:
    """SIGTERM (how CI cancels a job) is handled as Ctrl-C is: locks released, state saved."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def _log_to_stderr(level: int) -> None:
    """lmsform's own log lines only: other libraries' loggers may print URLs or payloads."""
    logger = logging.getLogger("lmsform")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_SECRETS)
    logger.addHandler(handler)


def _collect_garbage() -> None:
    """Switch the collector back on, without rescanning what loading and planning built."""
    gc.freeze()
    gc.enable()


def _restore_garbage_collection() -> None:
    gc.unfreeze()
    gc.enable()


def main() -> None:
    sys.stdout = _quiet_when_closed(sys.stdout)
    cli(prog_name="lmsform")


class _ClosedPipeSink(io.FileIO):
    """Standard output that, once its reader is gone (`lmsform state list | head -1`),
    takes the rest of the output silently: the command finishes what it was doing (an
    apply under way is never cut short by its reader) and exits as it would have."""

    def write(self, data: Any) -> int:
        if not self.closed_pipe:
            try:
                return super().write(data) or 0
            except BrokenPipeError:
                self.closed_pipe = True
        return len(data)

    closed_pipe = False


def _quiet_when_closed(stream: Any) -> Any:
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream  # not a file (a test's capture): nothing to guard
    stream.flush()
    sink = _ClosedPipeSink(descriptor, "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(sink), encoding=stream.encoding,
                            errors=stream.errors, line_buffering=stream.line_buffering,
                            write_through=getattr(stream, "write_through", False))


def _load(config_dir: Path, *, offline: bool = False) -> Config:
    config = _load_quietly(config_dir, offline=offline)
    for warning in config.warnings:
        click.echo(str(warning), err=True)
    return config


def _load_quietly(config_dir: Path, *, offline: bool = False) -> Config:
    """The config, its warnings not yet said; its secrets masked in whatever is said next."""
    try:
        config = load_config(config_dir, offline=offline, variables=_variables())
    except ManifestError as exc:
        raise _with_capability_problems(exc) from None
    _SECRETS.secrets = config.secrets()
    return config


def _with_capability_problems(error: ManifestError) -> ManifestError:
    """Manifest errors, and what the provider cannot do of what the rest of the manifests
    ask: one run reports both, so that fixing one never reveals the other."""
    partial = error.partial
    if not isinstance(partial, Config):
        return error
    try:
        check_capabilities(partial, providers.load(partial.provider.type))
    except PlanError as exc:
        return ManifestError([*error.problems, *exc.problems])
    except LmsformError:
        pass
    return error


# validate


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@config_dir_option
@variables_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="json: a list of problems; github: workflow annotations "
              "on the manifests' lines.")
@click.option("--staged", is_flag=True,
              help="Also check the config directories of the changes staged in git, "
                   "deletions included (pre-commit passes no deleted file).")
@click.pass_context
def validate(ctx: click.Context, files: tuple[Path, ...], config_dir: Path, fmt: str,
             staged: bool) -> None:
    """Check the manifests offline, and what the provider supports: no LMS, no credentials.

    With FILES (what pre-commit passes), check each config directory holding one of them,
    and for a file in a shared directory, each config directory that includes it; other
    files are not lmsform's and are left alone (a file is lmsform's only in a directory
    with an lmsform.yaml, or in a shared directory one includes)."""
    if files or staged:
        _files_or_config_dir(ctx, (*files, *([Path(".")] if staged else [])))
        from lmsform import precommit

        present, deleted = precommit.staged_paths() if staged else ([], [])
        dirs = precommit.config_dirs([*files, *present], deleted)
        sys.exit(_validate_dirs(dirs, fmt))
    if fmt != "text":
        sys.exit(_validate_for_machines(config_dir, fmt))
    click.echo(_validated(config_dir))


def _validated(config_dir: Path) -> str:
    """What a valid config directory declares; raises on the first kind of error found."""
    config = _load(config_dir, offline=True)
    check_capabilities(config, providers.load(config.provider.type))
    counts: dict[str, int] = {}
    for resource in config.resources.values():
        counts[resource.kind] = counts.get(resource.kind, 0) + 1
    described = ", ".join(f"{counts[k]} {k}{'s' if counts[k] != 1 else ''}"
                          for k in kinds.names() if k in counts) or "no resources"
    return f"The manifests are valid: {described}."


def _validate_dirs(config_dirs: list[Path], fmt: str) -> int:
    """Several config directories, each checked whatever the others hold: every error of
    every one is reported; exit 1 if any has one."""
    if fmt != "text":
        problems: list[Problem] = []
        messages: list[str] = []
        for directory in config_dirs:
            found, said = _problems(directory)
            problems += found
            messages += [f"{display_path(directory)}: {m}" for m in said]
        return _print_problems(problems, messages, fmt)
    failed = 0
    for directory in config_dirs:
        try:
            click.echo(f"{display_path(directory)}: {_validated(directory)}")
        except LmsformError as exc:
            failed += 1
            located = isinstance(exc, ManifestError | PlanError)
            click.echo(str(exc) if located else f"error: {display_path(directory)}: {exc}",
                       err=True)
    if not config_dirs:
        click.echo("No lmsform manifests among the files given.")
    return 1 if failed else 0


def _validate_for_machines(config_dir: Path, fmt: str) -> int:
    """Every problem, errors and warnings, as JSON or as GitHub workflow annotations; the
    exit code says whether there was an error."""
    return _print_problems(*_problems(config_dir), fmt)


def _problems(config_dir: Path) -> tuple[list[Problem], list[str]]:
    """Every problem of a config directory, errors and warnings, and the errors that have
    no place in a file."""
    problems: list[Problem] = []
    messages: list[str] = []
    try:
        config = _load_quietly(config_dir, offline=True)
        problems.extend(config.warnings)
        check_capabilities(config, providers.load(config.provider.type))
    except ManifestError as exc:
        problems = exc.problems
    except PlanError as exc:
        problems.extend(exc.problems)
        messages = exc.messages
    return problems, messages


def _print_problems(problems: list[Problem], messages: list[str], fmt: str) -> int:
    """Problems as JSON or as GitHub workflow annotations; 1 if any is an error."""
    if fmt == "json":
        listed: list[dict[str, str | int | None]] = [
            {"file": p.file, "line": p.line, "column": p.column, "path": p.path,
             "message": p.message, "severity": "warning" if p.warning else "error"}
            for p in sorted(problems)]
        listed += [{"file": None, "line": None, "column": None, "path": "", "message": m,
                    "severity": "error"} for m in messages]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
    else:
        for p in sorted(problems):
            where = f"file={_gh(p.file)},line={p.line},col={p.column}" if p.line else \
                f"file={_gh(p.file)}"
            text = f"{p.path}: {p.message}" if p.path else p.message
            click.echo(f"::{'warning' if p.warning else 'error'} {where},title=lmsform::"
                       f"{_gh(text, data=True)}")
        for message in messages:
            click.echo(f"::error title=lmsform::{_gh(message, data=True)}")
    return 1 if messages or any(not p.warning for p in problems) else 0


def _gh(text: str, *, data: bool = False) -> str:
    """Escaped for a GitHub workflow command (data, or a property value)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text if data else text.replace(":", "%3A").replace(",", "%2C")


# plan


@cli.command()
@config_dir_option
@variables_options
@_selection_options
@parallelism_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              help="How to print the plan.  [default: text]")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the plan to apply it later with `lmsform apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 with no changes, 2 with changes (1 is always an error); with "
                   "--refresh-only, 2 means drift.")
@click.option("--refresh-only", is_flag=True,
              help="Report what changed in the LMS outside lmsform since it last applied; "
                   "propose nothing.")
@click.option("--show-unmanaged", is_flag=True,
              help="List the resources in neither the manifests nor the state by address.")
@drop_unsupported_option
@summary_option
def plan(config_dir: Path, target: tuple[str, ...], exclude: tuple[str, ...],
         max_deletes: int | None, parallelism: int, as_json: bool, fmt: str | None,
         out: Path | None, detailed_exitcode: bool, refresh_only: bool,
         show_unmanaged: bool, drop_unsupported: bool, summary: bool) -> None:
    """Show what apply would change in the LMS (or, --refresh-only, what drifted)."""
    fmt = _format(as_json, fmt, summary)
    config = _load(config_dir)
    options = PlanOptions(list(target), list(exclude), max_deletes, parallelism,
                          refresh_only=refresh_only, show_unmanaged=show_unmanaged,
                          drop_unsupported=drop_unsupported)
    the_plan = engine.plan(config, options)
    _show(the_plan, fmt, summary, str(out) if out else None)
    if out is not None:
        the_plan.save(out)
        click.echo(f"Saved the plan to {out}; apply it with `lmsform apply {out}`.", err=True)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


def _format(as_json: bool, fmt: str | None, summary: bool) -> str:
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} ask for two formats; give one")
    fmt = "json" if as_json else fmt or "text"
    if summary and fmt == "json":
        raise click.UsageError("--summary shortens the text plan; the JSON plan has its "
                               "counts in `summary`")
    return fmt


def _show(the_plan: Plan, fmt: str, summary: bool, saved_as: str | None) -> None:
    if summary:
        output = render_summary(the_plan)
    elif fmt == "markdown":
        output = render_markdown(the_plan, saved_as)
    else:
        output = RENDERERS[fmt](the_plan)
    click.echo(output, nl=not output.endswith("\n"))


@cli.command("show")
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              help="How to print the plan.  [default: text]")
@summary_option
def show_command(plan_file: Path, as_json: bool, fmt: str | None, summary: bool) -> None:
    """Print a saved plan (`plan --out FILE`), without contacting the LMS."""
    fmt = _format(as_json, fmt, summary)
    _show(Plan.load(plan_file), fmt, summary, str(plan_file))


@cli.command("import")
@click.argument("address")
@click.argument("resource_id", metavar="ID")
@config_dir_option
@variables_options
@lock_timeout_option
def import_command(address: str, resource_id: str, config_dir: Path,
                   lock_timeout: float) -> None:
    """Manage a resource the LMS holds, by its LMS ID, as the manifests' ADDRESS.

    It is recorded in the state and nothing is changed in the LMS: the next plan shows how
    it differs from the manifests."""
    config = _load(config_dir)
    engine.import_resource(config, address, resource_id, lock_timeout=lock_timeout)
    click.echo(f"Imported {inert(address)} (id {inert(resource_id)}); `lmsform plan` shows "
               "how it differs from the manifests.")


# apply


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@config_dir_option
@variables_options
@_selection_options
@parallelism_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--force", is_flag=True, help="Apply even when the plan exceeds a safety limit.")
@click.option("--refresh-only", is_flag=True,
              help="Accept what changed in the LMS outside lmsform into the state; write "
                   "nothing to the LMS.")
@drop_unsupported_option
@lock_timeout_option
def apply(plan_file: Path | None, config_dir: Path, target: tuple[str, ...],
          exclude: tuple[str, ...], max_deletes: int | None, parallelism: int,
          auto_approve: bool, force: bool, refresh_only: bool, drop_unsupported: bool,
          lock_timeout: float) -> None:
    """Make the LMS match the manifests (or run a saved PLAN_FILE exactly)."""
    if refresh_only:
        if plan_file is not None:
            raise click.UsageError("--refresh-only plans afresh; give no PLAN_FILE")
        _refresh(config_dir, PlanOptions(list(target), list(exclude), max_deletes,
                                         parallelism), auto_approve, force, lock_timeout)
        return
    saved = Plan.load(plan_file) if plan_file is not None else None
    if saved is not None and (target or exclude):
        raise LmsformError("--target and --exclude choose what to plan; a saved plan keeps "
                           "the selection it was made with")
    if saved is not None and plan_file is not None:
        config_dir = _saved_plans_config(saved, plan_file, config_dir)
    if saved is not None and drop_unsupported:
        raise click.UsageError("a saved plan keeps the --drop-unsupported it was made with")
    config = _load(config_dir)
    options = PlanOptions(list(target), list(exclude), max_deletes, parallelism,
                          drop_unsupported=drop_unsupported)
    hooks = engine.ApplyHooks(
        show=lambda p: click.echo(render_text(p)),
        confirm=(lambda p: None) if auto_approve
        else lambda p: _confirm(f"Apply these {len(p.operations)} operations?", "apply"),
        starting=_collect_garbage,
        progress=(progress := _Progress()),
        stopping=progress.stopping,
    )
    result = engine.apply(config, options, saved=saved, force=force, hooks=hooks,
                          lock_timeout=lock_timeout)
    if result is not None:
        progress.end_line()
        _report(result)


def _saved_plans_config(saved: Plan, plan_file: Path, config_dir: Path) -> Path:
    """The config directory to apply a saved plan in: the one it records, found in this
    checkout; `-C DIR` is honoured when it names that same config, refused otherwise."""
    context = click.get_current_context()
    given = context.get_parameter_source("config_dir") is ParameterSource.COMMANDLINE or \
        "lmsform.config_dir" in context.meta
    if not saved.config_dir:
        return config_dir
    if not given:
        return config_dir_of(saved.config_dir, plan_file)
    if not same_config(config_dir, saved.config_dir):
        raise LmsformError(
            f"{display_path(plan_file)} was planned for the config directory "
            f"{saved.config_dir!r}, not {display_path(config_dir)!r}; nothing was applied. "
            "Leave out -C to apply it where it was planned, or plan again")
    return config_dir


def _refresh(config_dir: Path, options: PlanOptions, auto_approve: bool, force: bool,
             lock_timeout: float) -> None:
    hooks = engine.ApplyHooks(
        show=lambda p: click.echo(render_text(p)),
        confirm=(lambda p: None) if auto_approve
        else lambda p: _confirm(f"Record these {len(p.drift)} LMS changes in the state?",
                                "apply --refresh-only"))
    accepted = engine.refresh(_load(config_dir), options, hooks=hooks, force=force,
                              lock_timeout=lock_timeout)
    if accepted is not None:
        click.echo(f"State updated: {accepted} resources now recorded as the LMS holds them.")


def _confirm(question: str, action: str) -> None:
    if not sys.stdin.isatty():
        raise LmsformError("no terminal to confirm on: re-run with --auto-approve, or apply a "
                           "saved plan (`lmsform plan --out FILE`, then `lmsform apply FILE`)")
    answer = click.prompt(f"{question} Only 'yes' is accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise LmsformError(f"{action} cancelled; nothing was changed")


class _Progress:
    """A line per finished operation: rewritten in place on a terminal; elsewhere (a CI
    log) written as it comes and flushed within a second, by a timer, since a flush per line
    cost a large apply seconds. Whatever is said next (Ctrl-C, the report) starts on a line
    of its own: `end_line()`."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.timer: threading.Timer | None = None
        self.open_line = False  # a line rewritten in place, not ended yet

    def __call__(self, done: int, total: int, op: Operation, seconds: float) -> None:
        line = f"[{done}/{total}] {op.action.symbol} {inert(op.address)}: {op.action} " \
               f"done ({seconds:.2f}s)"
        if self.tty:
            click.echo(f"\r\033[K{line}", nl=done == total)
            self.open_line = done != total
            return
        sys.stdout.write(line + "\n")
        if done == total:
            sys.stdout.flush()
        elif self.timer is None or not self.timer.is_alive():
            self.timer = threading.Timer(1.0, _flush, [sys.stdout])
            self.timer.daemon = True
            self.timer.start()

    def end_line(self) -> None:
        if self.open_line:
            click.echo("")
            self.open_line = False
        _flush(sys.stdout)

    def stopping(self, signal_name: str) -> None:
        """Ctrl-C or SIGTERM during an apply, said as the rest of the output is."""
        self.end_line()
        click.echo(f"{signal_name}: finishing the operations under way, starting no more.",
                   err=True)


def _flush(stream: Any) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by then: nothing left to show
        stream.flush()


def _report(result: ApplyResult) -> None:
    counts: dict[Action, int] = {}
    for op in result.applied:
        counts[op.action] = counts.get(op.action, 0) + 1
    done = ", ".join(f"{n} {action.past}" for action, n in counts.items()) or "nothing"
    if result.ok:
        click.echo(click.style(f"Apply complete: {done}.", fg="green", bold=True))
        return
    click.echo(f"Applied: {done}.", err=True)
    if result.interrupted:
        click.echo(f"interrupted: {len(result.skipped)} operations not started; the state "
                   "records what was applied. Run apply again to continue", err=True)
        sys.exit(130)
    for failure in result.failed:
        click.echo(click.style(f"failed: {failure.message}", fg="red"), err=True)
    if result.skipped:
        names = ", ".join(op.address for op in result.skipped[:10])
        more = f" and {len(result.skipped) - 10} more" if len(result.skipped) > 10 else ""
        click.echo(f"skipped ({len(result.skipped)}): {names}{more}", err=True)
    raise LmsformError("apply did not finish; the state records what was applied. Fix the "
                       "cause and run apply again: it continues from there")


# fmt, init and completion: tools around the manifests (lmsform/fmt.py, scaffold.py, ...)


def _files_or_config_dir(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """FILES (what pre-commit passes) and -C each say what to work on: give one."""
    if files and ctx.get_parameter_source("config_dir") is not \
            click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give -C DIR or FILES, not both")


def _manifests(n: int) -> str:
    return f"{n} manifest{'s' if n != 1 else ''}"


@cli.command("fmt")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@config_dir_option
@click.option("--check", is_flag=True,
              help="Change nothing: list the files that would change; exit 1 if any would.")
@click.pass_context
def fmt_command(ctx: click.Context, files: tuple[Path, ...], config_dir: Path,
                check: bool) -> None:
    """Rewrite manifests in lmsform's canonical layout, every comment kept.

    Without FILES, every manifest of the config directory; with FILES (what pre-commit
    passes), those of them that are lmsform manifests. Nothing is written if any file cannot
    be read or formatted."""
    from lmsform import fmt
    _files_or_config_dir(ctx, files)
    results = fmt.format_files(fmt.targets(config_dir, files))
    changed = [r for r in results if r.changed]
    if not check:
        fmt.write(changed)
    for result in changed:
        click.echo(display_path(result.path))
    if not results:
        click.echo("No lmsform manifests among the files given.", err=True)
    elif not changed:
        click.echo(f"{_manifests(len(results))} already formatted.", err=True)
    elif check:
        click.echo(f"{len(changed)} of {_manifests(len(results))} would be reformatted; "
                   "`lmsform fmt` rewrites them.", err=True)
        sys.exit(1)
    else:
        click.echo(f"Reformatted {len(changed)} of {_manifests(len(results))}.", err=True)


def _complete_providers(ctx: click.Context, param: click.Parameter,
                        incomplete: str) -> list[str]:
    return [name for name in plugins.names(providers.GROUP) if name.startswith(incomplete)]


@cli.command("init")
@config_dir_option
@click.option("--provider", "provider_type", default="local", show_default=True,
              metavar="TYPE", shell_complete=_complete_providers,
              help="The provider the config is for (`lmsform providers` lists them).")
@click.option("--force", is_flag=True,
              help="Write even into a directory that has manifests (replacing lmsform.yaml "
                   "and users.yaml).")
def init_command(config_dir: Path, provider_type: str, force: bool) -> None:
    """Start a config directory: a commented lmsform.yaml written from the provider's
    settings, an example manifest, and a .gitignore for the state."""
    from lmsform import scaffold
    result = scaffold.init(config_dir, provider_type, force=force)
    click.echo(f"Wrote {', '.join(display_path(p) for p in result.files)}.")
    todo = []
    if result.placeholders:
        todo.append(f"replace the placeholders in {scaffold.CONFIG_FILE} "
                    f"({', '.join(result.placeholders)})")
    if result.variables:
        todo.append(f"set {', '.join(result.variables)} in the environment")
    where = "" if config_dir == Path(".") else f" -C {display_path(config_dir)}"
    first = f"{'; '.join(todo)}; then " if todo else ""
    click.echo(f"Next: {first}`lmsform validate{where}` and `lmsform plan{where}`.")


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for lmsform.

    \b
    bash: eval "$(lmsform completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(lmsform completion zsh)"    (in ~/.zshrc)
    fish: lmsform completion fish > ~/.config/fish/completions/lmsform.fish
    """
    from lmsform.completion import completion_script

    click.echo(completion_script(ctx.find_root().command, shell))


# export


@cli.command("export")
@config_dir_option
@variables_options
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Write the manifests here, with a copy of the provider block and a state "
                   "of its own.  [default: the config directory]")
@click.option("--kinds", "kind_list", metavar="KIND,...",
              help="Export only these kinds (say, into a config that manages the rest).")
@click.option("--force", is_flag=True, help="Overwrite manifest files that exist.")
@click.option("--provider-only", is_flag=True,
              help="Read only the provider, state and settings blocks of the config "
                   "directory; its other manifests are not read.")
@parallelism_option
@lock_timeout_option
def export_command(config_dir: Path, out: Path | None, kind_list: str | None, force: bool,
                   provider_only: bool, parallelism: int, lock_timeout: float) -> None:
    """Write what the LMS holds as manifests, and record it in the state, so that a plan
    right after shows no changes."""
    from lmsform.export import ExportOptions, export

    source = load_config(config_dir, blocks_only=provider_only)
    _SECRETS.secrets = source.secrets()
    wanted = [k.strip() for k in kind_list.split(",") if k.strip()] if kind_list else None
    result = export(source, ExportOptions(out=out or config_dir, kinds=wanted, force=force,
                                          parallelism=parallelism, lock_timeout=lock_timeout))
    counts = ", ".join(f"{n:,} {kind}{'s' if n != 1 else ''}"
                       for kind, n in result.counts.items()) or "nothing"
    click.echo(f"Exported {counts} in {result.seconds:.1f} s to "
               f"{', '.join(str(p) for p in result.files) or 'no file'}; the state records "
               "them, so `lmsform plan` shows no changes.")
    for why in result.left_out:
        click.echo(click.style(f"not exported: {inert(why)}", fg="yellow"), err=True)


# state


@cli.group(cls=_WholeSentences)
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


class _Simulators(_WholeSentences):
    """The simulators installed in the `lmsform.simulators` entry-point group, loaded only
    when one is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return plugins.names(SIMULATORS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = plugins.find(SIMULATORS, name)
        command: click.Command | None = entry.load() if entry is not None else None
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """With no simulator installed, any use but --help says where they are (exit 1)."""
        if ctx.resilient_parsing or self.list_commands(ctx):
            return super().parse_args(ctx, args)
        if args:
            super().parse_args(ctx, args)  # --help shows the help, which says the same
        raise LmsformError(NO_SIMULATORS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.list_commands(ctx):
            super().format_commands(ctx, formatter)
        else:
            with formatter.section("Commands"):
                formatter.write_text(NO_SIMULATORS[0].upper() + NO_SIMULATORS[1:] + ".")


@cli.group(cls=_Simulators)
def simulate() -> None:
    """Run a vendor simulator on this machine, to try lmsform or test manifests in CI."""


# providers and schema


@cli.command("providers")
def providers_command() -> None:
    """What each installed provider can do."""
    for name, cls in providers.available().items():
        click.echo(click.style(f"{name}", bold=True) + f"  {cls.description}")
        for kind in kinds.names():
            support = cls.capabilities.kinds.get(kind)
            if kind in cls.capabilities.external_kinds:
                click.echo(f"  {kind:<11} the LMS's own, not managed: references name its ids")
                continue
            if support is None:
                click.echo(f"  {kind:<11} not supported")
                continue
            operations = ", ".join(cls.capabilities.operations(kind)) or "read only"
            unlisted = "" if support.listable else " (no list call: read one by one)"
            click.echo(f"  {kind:<11} {operations}{unlisted}")
            click.echo(f"  {'':<11} fields: {', '.join(sorted(support.fields))}")
            if support.required_on_create:
                required = ", ".join(sorted(support.required_on_create))
                click.echo(f"  {'':<11} required to create: {required}")
            for label, names in (("fixed once created", support.fixed_fields),
                                 ("only added to", support.grow_only_fields)):
                if names:
                    click.echo(f"  {'':<11} {label}: {', '.join(sorted(names))}")
            if support.replace_fields:
                replace = ", ".join(sorted(support.replace_fields))
                click.echo(f"  {'':<11} replaced on change: {replace}")
        click.echo("")


@cli.command()
def schema() -> None:
    """JSON Schema of a manifest file, for editors: it accepts what `validate` accepts."""
    from lmsform.schema import manifest_schema

    click.echo(json.dumps(manifest_schema(), indent=2))


def _with_global_options(command: click.Command) -> None:
    command.params.extend(_global_options())
    if isinstance(command, click.Group) and not isinstance(command, _Simulators):
        for sub_command in command.commands.values():
            _with_global_options(sub_command)


_with_global_options(cli)
