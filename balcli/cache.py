"""The user cache folder: what balcli may keep between runs and throw away at any time (README "Performance").

``$XDG_CACHE_HOME/balcli`` (else ``~/.cache/balcli``; ``~/Library/Caches/balcli`` on macOS,
``%LOCALAPPDATA%\\balcli\\Cache`` on Windows), mode 0700. It holds the shared rate-limiter state
(``balcli.limiter``) and the parsed config file (``balcli.config``: no secret is ever written here). Every
file is replaced atomically with mode 0600; a missing, unreadable or corrupt file is the same as no file, so
deleting the folder is always safe. Standard library only, and cheap to import (start-up cost).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from balcli import dirs


def user_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    return dirs.user_dir("cache", env)


def private_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The cache folder, created 0700 if missing; OSError when it cannot be created or is not ours alone.

    A folder that group or others may write is refused (another user could plant or swap the files in it).
    """
    path = user_cache_dir(env)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "nt":
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise PermissionError(f"{path} is writable by others or not owned by this user")
    return path


def read_text(name: str, env: Mapping[str, str] = os.environ) -> str | None:
    """A cache file's text, or None (no such file, unreadable, not ours)."""
    try:
        return (user_cache_dir(env) / name).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None


def write_text(name: str, text: str, env: Mapping[str, str] = os.environ) -> bool:
    """Replace a cache file atomically (mode 0600); False when the cache folder cannot be written."""
    tmp = None
    try:
        folder = private_dir(env)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, folder / name)
        return True
    except OSError:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
        return False
