"""The commands that plan and apply: plan, show, import, apply, with the progress lines
and the report an apply ends with."""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from lmsform import engine
from lmsform.apply import ApplyResult
from lmsform.checkout import config_dir_of, same_config
from lmsform.cli.aside import TextAside, signals_deferred
from lmsform.cli.common import (
    _collect_garbage,
    _confirm,
    _load,
    _selection_options,
    config_dir_option,
    drop_unsupported_option,
    lock_timeout_option,
    parallelism_option,
    scheduled_only_option,
    summary_option,
    variables_options,
)
from lmsform.errors import (
    LmsformError,
    display_path,
    reason,
)
from lmsform.plan import Action, Operation, Plan
from lmsform.planning import PlanOptions
from lmsform.render import (
    RENDERERS,
    inert,
    render_markdown,
    render_summary,
    text_lines,
)


@click.command("plan")
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
@scheduled_only_option
@summary_option
def plan(config_dir: Path, target: tuple[str, ...], exclude: tuple[str, ...],
         max_deletes: int | None, parallelism: int, as_json: bool, fmt: str | None,
         out: Path | None, detailed_exitcode: bool, refresh_only: bool,
         show_unmanaged: bool, drop_unsupported: bool, scheduled_only: bool,
         summary: bool) -> None:
    """Show what apply would change in the LMS (or, --refresh-only, what drifted)."""
    fmt = _format(as_json, fmt, summary)
    if refresh_only and scheduled_only:
        raise click.UsageError("--refresh-only proposes nothing; --scheduled-only chooses "
                               "what to propose: give one")
    config = _load(config_dir)
    options = PlanOptions(list(target), list(exclude), max_deletes, parallelism,
                          refresh_only=refresh_only, show_unmanaged=show_unmanaged,
                          drop_unsupported=drop_unsupported, scheduled_only=scheduled_only)
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
    elif fmt == "text":
        _echo_text(the_plan)
        return
    else:
        output = RENDERERS[fmt](the_plan)
    click.echo(output, nl=not output.endswith("\n"))


def _echo_text(the_plan: Plan) -> None:
    """The text plan (`render_text`), written as its lines are made, some thousands at a
    time: a large plan's text is never held whole."""
    lines = text_lines(the_plan)
    while chunk := list(itertools.islice(lines, 5_000)):
        click.echo("\n".join(chunk))


@click.command("show")
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              help="How to print the plan.  [default: text]")
@summary_option
def show_command(plan_file: Path, as_json: bool, fmt: str | None, summary: bool) -> None:
    """Print a saved plan (`plan --out FILE`), without contacting the LMS."""
    fmt = _format(as_json, fmt, summary)
    _show(Plan.load(plan_file), fmt, summary, str(plan_file))


@click.command("import")
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


@click.command("apply")
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
@scheduled_only_option
@lock_timeout_option
def apply(plan_file: Path | None, config_dir: Path, target: tuple[str, ...],
          exclude: tuple[str, ...], max_deletes: int | None, parallelism: int,
          auto_approve: bool, force: bool, refresh_only: bool, drop_unsupported: bool,
          scheduled_only: bool, lock_timeout: float) -> None:
    """Make the LMS match the manifests (or run a saved PLAN_FILE exactly)."""
    if scheduled_only and (refresh_only or plan_file is not None):
        raise click.UsageError("--scheduled-only plans afresh what time caused; give no "
                               "PLAN_FILE and no --refresh-only")
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
                          drop_unsupported=drop_unsupported, scheduled_only=scheduled_only)
    # asked no confirmation, a large plan's text may be written by a helper meanwhile
    aside = TextAside(_echo_text) if auto_approve or saved is not None else None
    progress = _Progress(aside)
    hooks = engine.ApplyHooks(
        show=aside.show if aside is not None else _echo_text,
        confirm=(lambda p: None) if auto_approve
        else lambda p: _confirm(f"Apply these {len(p.operations)} operations?", "apply"),
        starting=lambda: _starting(aside),
        progress=progress,
        stopping=progress.stopping,
        waiting=progress.waiting,
    )
    try:
        result = engine.apply(config, options, saved=saved, force=force, hooks=hooks,
                              lock_timeout=lock_timeout)
    except BaseException:
        # the text before what went wrong is said, which is the error the command ends
        # with, not a failure to write the text
        with signals_deferred(act_after=False):
            progress.finish()
        raise
    _said_last(progress, result)


def _said_last(progress: _Progress, result: ApplyResult | None) -> None:
    """What an apply says once it is over, Ctrl-C waiting for it: what was held (the text,
    progress lines), the report, and a failure to write them, beside the apply's own
    failures if it has any."""
    with signals_deferred():
        failure = progress.finish()
        if isinstance(failure, OSError):  # standard output refused (a full disk): no report
            raise LmsformError(_unwritten(failure, result)) from failure
        try:
            if result is not None:
                _report(result)
        except BaseException:
            if failure is not None:
                click.echo(f"Writing the output failed too: {failure}", err=True)
            raise
        if failure is not None:
            raise failure


def _unwritten(failure: OSError, result: ApplyResult | None) -> str:
    """An apply's report, in one line for standard error, where standard output refused."""
    done = "" if result is None else (
        f": {len(result.applied)} applied, {len(result.failed)} failed"
        f"{', interrupted' if result.interrupted else ''}")
    return (f"the apply's output could not be written ({reason(failure)}); what it did is "
            f"recorded in the state{done}")


def _starting(aside: TextAside | None) -> None:
    _collect_garbage()
    if aside is not None:
        aside.start()


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
        show=_echo_text,
        confirm=(lambda p: None) if auto_approve
        else lambda p: _confirm(f"Record these {len(p.drift)} LMS changes in the state?",
                                "apply --refresh-only"))
    accepted = engine.refresh(_load(config_dir), options, hooks=hooks, force=force,
                              lock_timeout=lock_timeout)
    if accepted is not None:
        click.echo(f"State updated: {accepted} resources now recorded as the LMS holds them.")


class _Progress:
    """A line per finished operation: rewritten in place on a terminal; elsewhere (a CI
    log) written as it comes and flushed within a second, by a timer, since a flush per line
    cost a large apply seconds. While a helper writes the plan's text (`TextAside`), the
    lines are held, and written after the text. Nothing here raises into the apply, which
    must record every operation the LMS finishes: what fails (a full disk) is returned by
    `finish()`, after which whatever is said next starts on a line of its own."""

    def __init__(self, aside: TextAside | None = None) -> None:
        self.tty = sys.stdout.isatty()
        self.timer: threading.Timer | None = None
        self.open_line = False  # a line rewritten in place, not ended yet
        self.aside = aside
        self.held: list[str] = []  # lines finished before the text was written out
        self.failure: Exception | None = None  # the first that failed: `finish`
        self.unwritable = False  # standard output refused a write: nothing more is tried

    def __call__(self, done: int, total: int, op: Operation, seconds: float) -> None:
        line = f"[{done}/{total}] {op.action.symbol} {inert(op.address)}: {op.action} " \
               f"done ({seconds:.2f}s)"
        if self.tty:
            self._guarded(click.echo, f"\r\033[K{line}", nl=done == total)
            self.open_line = done != total
            return
        self.waiting()
        if self.aside is not None and self.aside.pending:
            self.held.append(line)
            return
        self._guarded(sys.stdout.write, line + "\n")
        if done == total:
            _flush(sys.stdout)
        elif self.timer is None or not self.timer.is_alive():
            self.timer = threading.Timer(1.0, _flush, [sys.stdout])
            self.timer.daemon = True
            self.timer.start()

    def waiting(self) -> None:
        """The plan's text written out once the helper has it ready: at a finished
        operation, and as the apply waits for the LMS (were none to finish for a while)."""
        if self.aside is not None and self.aside.pending and self.aside.ready():
            self._text_out()

    def _text_out(self, *, patient: bool = True) -> None:
        """The plan's text, then the lines held while it was written."""
        assert self.aside is not None
        self._guarded(self.aside.write_out, patient=patient)
        if self.held:
            self._guarded(sys.stdout.write, "".join(f"{line}\n" for line in self.held))
            self.held.clear()

    def _guarded(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write that never raises: its failure kept for `finish`. After an error of
        standard output itself (OSError), nothing more is written."""
        if self.unwritable:
            return
        try:
            write(*args, **kwargs)
        except Exception as exc:
            self.failure = self.failure or exc
            self.unwritable = isinstance(exc, OSError)

    def finish(self) -> Exception | None:
        """Everything held written out, on lines of their own; what failed meanwhile."""
        if self.aside is not None and self.aside.pending:
            self._text_out()
        self._end_line()
        failure, self.failure = self.failure, None
        return failure

    def _end_line(self) -> None:
        """A line rewritten in place ended, and what is buffered flushed."""
        if self.open_line:
            self._guarded(click.echo, "")
            self.open_line = False
        _flush(sys.stdout)

    def stopping(self, signal_name: str) -> None:
        """Ctrl-C or SIGTERM during an apply, said as the rest of the output is: after the
        plan's text (made here if the helper is still writing it)."""
        if self.aside is not None and self.aside.pending:
            self._text_out(patient=False)
        self._end_line()
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
