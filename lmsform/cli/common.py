"""What every command shares: the options they take alike (-C, --var, --parallelism...),
loading a config with every error at once, the secrets no output may show, and the help's
layout."""

from __future__ import annotations

import gc
import logging
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from lmsform import providers
from lmsform.config import Config, load_config, variable_file
from lmsform.errors import (
    LmsformError,
    ManifestError,
    PlanError,
    display_path,
    reason,
)
from lmsform.planning import check_capabilities
from lmsform.secrets import Secrets


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


scheduled_only_option = click.option(
    "--scheduled-only", is_flag=True,
    help="Only what time caused (starts, expiries, enrollment windows), of an operation its "
         "time-caused fields alone; list the rest as left for review.")


def _selection_options(func: Any) -> Any:
    func = click.option("--max-deletes", type=click.IntRange(min=0),
                        help="Refuse to apply (without --force) a plan removing more.")(func)
    func = click.option("--exclude", multiple=True, metavar="ADDR",
                        help="Leave out operations on these addresses (glob patterns).")(func)
    func = click.option("--target", multiple=True, metavar="ADDR",
                        help="Only plan operations on these addresses (glob patterns).")(func)
    return func


# The cyclic collector's thresholds once a long command switches it back on: CPython 3.11's
# (700, 10, 10) collected a thousand times in an apply from empty of 100k users, 0.39 s
# scanning the records of finished operations, which hold no cycles; a first generation of
# 50,000 objects collected 95 times, in 0.07 s. What a cycle holds waits a little longer.
LONG_COMMAND_THRESHOLDS = (50_000, 20, 20)


def _collect_garbage() -> None:
    """Switch the collector back on, without rescanning what loading and planning built,
    collecting less often (`LONG_COMMAND_THRESHOLDS`)."""
    gc.freeze()
    gc.set_threshold(*LONG_COMMAND_THRESHOLDS)
    gc.enable()


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


def _confirm(question: str, action: str) -> None:
    if not sys.stdin.isatty():
        raise LmsformError("no terminal to confirm on: re-run with --auto-approve, or apply a "
                           "saved plan (`lmsform plan --out FILE`, then `lmsform apply FILE`)")
    answer = click.prompt(f"{question} Only 'yes' is accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise LmsformError(f"{action} cancelled; nothing was changed")


def _files_or_config_dir(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """FILES (what pre-commit passes) and -C each say what to work on: give one."""
    if files and ctx.get_parameter_source("config_dir") is not \
            click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give -C DIR or FILES, not both")


def _manifests(n: int) -> str:
    return f"{n} manifest{'s' if n != 1 else ''}"
