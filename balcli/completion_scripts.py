"""The shell completion scripts in ``completions/``, generated from the app (``make completions``).

The scripts are thin: on TAB they call ``balcli`` back with ``_BALCLI_COMPLETE`` set, so what is offered
(commands, options, fixed choices, profile names from the config file) always matches the installed version.
A test regenerates them and fails when the committed copies are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROG = "balcli"
COMPLETE_VAR = "_BALCLI_COMPLETE"
FILES = {"bash": "balcli.bash", "zsh": "_balcli", "fish": "balcli.fish"}


def script(shell: str) -> str:
    from balcli._typer_compat import completion_script

    text = completion_script(PROG, COMPLETE_VAR, shell)
    header = {"bash": "# bash completion for balcli: source this file, or copy it to "
                      "~/.local/share/bash-completion/completions/balcli\n",
              "zsh": "",  # the first line of a zsh completion file must stay `#compdef balcli`
              "fish": "# fish completion for balcli: copy to ~/.config/fish/completions/balcli.fish\n"}[shell]
    return header + text.strip() + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shell, name in FILES.items():
        path = directory / name
        path.write_text(script(shell), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else "completions")
    for path in write_all(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
