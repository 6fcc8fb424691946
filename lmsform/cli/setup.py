"""Starting and moving: init, export, shell completion, and the vendor simulators."""

from __future__ import annotations

from pathlib import Path

import click

from lmsform import plugins, providers
from lmsform.cli.common import (
    _SECRETS,
    _WholeSentences,
    config_dir_option,
    lock_timeout_option,
    parallelism_option,
    variables_options,
)
from lmsform.config import load_config
from lmsform.errors import (
    LmsformError,
    display_path,
)
from lmsform.render import (
    inert,
)


def _complete_providers(ctx: click.Context, param: click.Parameter,
                        incomplete: str) -> list[str]:
    return [name for name in plugins.names(providers.GROUP) if name.startswith(incomplete)]


@click.command("init")
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


@click.command("completion")
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


@click.command("export")
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


SIMULATORS = "lmsform.simulators"


NO_SIMULATORS = ("no simulators are installed: they are the distribution lmsform-simulators, in "
                 "the simulators/ directory of lmsform's repository (from a checkout: pip "
                 "install ./simulators)")


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


@click.group("simulate", cls=_Simulators)
def simulate() -> None:
    """Run a vendor simulator on this machine, to try lmsform or test manifests in CI."""


# providers and schema
