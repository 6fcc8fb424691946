"""The commands that check and tidy manifests offline: validate, fmt, schema, and the
providers' capability tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lmsform import kinds, providers
from lmsform.cli.common import (
    _files_or_config_dir,
    _load,
    _load_quietly,
    _manifests,
    config_dir_option,
    variables_options,
)
from lmsform.config import Config
from lmsform.errors import (
    LmsformError,
    ManifestError,
    PlanError,
    Problem,
    display_path,
)
from lmsform.planning import check_capabilities
from lmsform.render import inert


@click.command("validate")
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
    judged = _policy_problems(config)
    for warning in (p for p in judged if p.warning):
        click.echo(str(warning), err=True)
    violated = [p for p in judged if not p.warning]
    try:
        check_capabilities(config, providers.load(config.provider.type))
    except PlanError as exc:
        if not violated:
            raise
        raise PlanError(exc.messages, [*exc.problems, *violated], contacted=False,
                        hint=exc.hint) from None
    if violated:
        raise ManifestError(violated)
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
        problems.extend(_policy_problems(config))
        check_capabilities(config, providers.load(config.provider.type))
    except ManifestError as exc:
        problems = exc.problems
    except PlanError as exc:
        problems.extend(exc.problems)
        messages = exc.messages
    return problems, messages


def _policy_problems(config: Config) -> list[Problem]:
    """What the policies judging the manifests find: errors where they are mandatory,
    warnings where advisory. A message is the manifests' text, and an address may be the
    LMS's: shown inert, so that neither can print a line that reads as another problem."""
    return [Problem(v.file, v.line, v.column, inert(v.address or ""),
                    f"policy {v.policy}: {inert(v.message)}", warning=not v.mandatory)
            for v in config.violations()]


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


@click.command("fmt")
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


@click.command("schema")
def schema() -> None:
    """JSON Schema of a manifest file, for editors: it accepts what `validate` accepts."""
    from lmsform.schema import manifest_schema

    click.echo(json.dumps(manifest_schema(), indent=2))


@click.command("providers")
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
            if support.member_access:
                reached = ", ".join(sorted(support.member_access))
                click.echo(f"  {'':<11} members reach its {reached}")
        click.echo("")
