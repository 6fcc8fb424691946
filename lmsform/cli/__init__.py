"""The `lmsform` command line.

Every command that reads manifests takes `-C DIR`. Errors are one clear message and exit 1;
tracebacks only with --debug.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import click

from lmsform import __version__
from lmsform.cli.checking import fmt_command, providers_command, schema, validate
from lmsform.cli.common import _SECRETS, _error_message, _UsageError, _WholeSentences
from lmsform.cli.planning import apply, import_command, plan, show_command
from lmsform.cli.setup import (
    _Simulators,
    completion_command,
    export_command,
    init_command,
    simulate,
)
from lmsform.cli.state import state
from lmsform.secrets import Secrets


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
    given = gc.get_threshold()
    gc.disable()
    # for callers that invoke lmsform in-process
    ctx.call_on_close(lambda: _restore_garbage_collection(given))
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


# Set by `main`: the process ends with the command (`_exit_at_once`), so nothing it built is
# ever freed and the cyclic collector need not come back on.
_PROCESS_ENDS_WITH_COMMAND = False


def _restore_garbage_collection(thresholds: tuple[int, int, int]) -> None:
    """The collector on, with the `thresholds` it had when the command started, for callers
    that invoke lmsform in-process. Not when the process ends with the command: switched
    back on, the collector's next pass would scan everything the command built (1.2 s after
    a 100k-user plan had printed), for nothing."""
    if not _PROCESS_ENDS_WITH_COMMAND:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.enable()


def main() -> None:
    global _PROCESS_ENDS_WITH_COMMAND
    _PROCESS_ENDS_WITH_COMMAND = True
    sys.stdout = _quiet_when_closed(sys.stdout)
    try:
        cli(prog_name="lmsform")
    except SystemExit as done:
        _exit_at_once(done.code)


def _exit_at_once(code: str | int | None) -> None:
    """Ends the process without freeing what the command built, once its output is out.

    A plan of 100k users holds millions of objects; freeing them one by one as the
    interpreter shuts down took a tenth of the plan's time, for memory the operating system
    takes back whole. The command's work is finished here: locks released, state saved and
    files closed as its own code left them (`finally` blocks and context managers have run).
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code or 0)


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


def _with_global_options(command: click.Command) -> None:
    command.params.extend(_global_options())
    if isinstance(command, click.Group) and not isinstance(command, _Simulators):
        for sub_command in command.commands.values():
            _with_global_options(sub_command)


for _command in (validate, fmt_command, schema, providers_command, plan, show_command,
                 import_command, apply, state, init_command, completion_command, export_command,
                 simulate):
    cli.add_command(_command)
_with_global_options(cli)
