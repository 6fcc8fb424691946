"""The `lmsform` command (and `python -m lmsform`).

Most of a start-up is imports: `lmsform --version`, which needs none of them, is answered
before the command line (and with it pydantic, the providers, the engine) is imported.
"""

from __future__ import annotations

import sys

from lmsform import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"lmsform, version {__version__}")  # as click's version option prints it
        return
    from lmsform.cli import main as run

    run()


if __name__ == "__main__":
    main()
