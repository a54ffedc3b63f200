"""The user's folders for balcli, by the platform's convention (standard library only: cheap to import).

Linux and other Unixes follow the XDG base directories (``$XDG_CONFIG_HOME``, ``$XDG_DATA_HOME``,
``$XDG_CACHE_HOME``, each with its usual default under ``~``); macOS uses ``~/Library``; Windows uses
``%APPDATA%`` / ``%LOCALAPPDATA%``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

# kind -> (XDG variable, default under ~, macOS folder under ~/Library, Windows variable, Windows sub-folder)
_KINDS = {
    "config": ("XDG_CONFIG_HOME", ".config", "Application Support", "APPDATA", ""),
    "data": ("XDG_DATA_HOME", ".local/share", "Application Support", "LOCALAPPDATA", ""),
    "cache": ("XDG_CACHE_HOME", ".cache", "Caches", "LOCALAPPDATA", "Cache"),
}


def user_dir(kind: str, env: Mapping[str, str] = os.environ) -> Path:
    """balcli's ``config``, ``data`` or ``cache`` folder (not created)."""
    xdg, home_default, mac, win_var, win_sub = _KINDS[kind]
    if env.get(xdg):
        return Path(env[xdg]) / "balcli"
    if sys.platform == "darwin":
        return Path.home() / "Library" / mac / "balcli"
    if os.name == "nt" and env.get(win_var):
        folder = Path(env[win_var]) / "balcli"
        return folder / win_sub if win_sub else folder
    return Path.home() / home_default / "balcli"
