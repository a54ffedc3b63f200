"""Every use of typer's internals, in one place, so that the whole declared typer range works.

Typer's public API (``typer.Typer``, ``Option``, ``Context``, ``Exit``, ``Abort``…) is the same across the
range in ``pyproject.toml``; what balcli needs beyond it moved between releases:

- up to 0.25 typer depends on click, from 0.26 it vendors it as ``typer._click`` (no ``click`` installed);
- ``typer.exceptions`` (its own ``Abort``/``Exit``) exists only from 0.27.2; ``typer.Abort`` is public in all;
- the completion script text comes from ``typer._completion_shared`` (private, same signature throughout).

``make test-floor`` runs a smoke subset against the lowest typer the range allows; a module other than this
one that imports ``click``, ``typer._*`` or ``typer.exceptions`` fails ``tests/test_layers.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from typer._click.core import Command

try:  # click's exceptions (NoSuchOption, BadParameter, NoArgsIsHelpError…) and parameter types
    from typer._click import exceptions as click_exceptions  # typer >= 0.26 vendors click
    from typer._click import types as click_types
except ModuleNotFoundError:  # typer < 0.26 depends on click instead
    # the type checker sees the vendored modules above; at run time these are the ones typer uses
    from click import exceptions as click_exceptions  # type: ignore[no-redef,unused-ignore]
    from click import types as click_types  # type: ignore[no-redef,unused-ignore]

ClickException = click_exceptions.ClickException

# What the parser raises on EOF at a prompt: click's Abort up to 0.27.1, typer's own from 0.27.2; public in both.
Abort = typer.Abort


def get_command(app: typer.Typer) -> Command:
    """The click command behind a Typer app (to run it without Typer's own exit handling)."""
    return typer.main.get_command(app)


def completion_script(prog_name: str, complete_var: str, shell: str) -> str:
    """The shell's completion script for ``prog_name``, calling back with ``complete_var`` set."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=prog_name, complete_var=complete_var, shell=shell)


__all__ = ["Abort", "ClickException", "click_exceptions", "click_types", "completion_script", "get_command"]
