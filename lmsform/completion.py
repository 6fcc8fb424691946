"""Shell completion for `lmsform`: click's own scripts, printed by `lmsform completion SHELL`.

Click completes a command by running it again with `_LMSFORM_COMPLETE` set; the script a
shell sources only makes that call. The program name is fixed to `lmsform`, the installed
command, however the script was produced (`python -m lmsform completion bash` included).
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

PROG_NAME = "lmsform"
COMPLETE_VAR = "_LMSFORM_COMPLETE"


def completion_script(command: click.Command, shell: str) -> str:
    """The script `shell` sources to complete `lmsform` (bash, zsh, fish)."""
    cls = get_completion_class(shell)
    if cls is None:
        raise click.UsageError(f"no completion for the shell {shell!r}")
    return cls(command, {}, PROG_NAME, COMPLETE_VAR).source()
