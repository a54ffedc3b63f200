"""Files are replaced, never rewritten in place (``--output/-O FILE``, README "Commands").

``atomic_output(path)`` hands out a text stream on a temporary file in FILE's own folder (so the final rename
never crosses a file system) and renames it over FILE only when the ``with`` block ends without an exception.
On any exception (a failed page, ``KeyboardInterrupt``, a full disk) the temporary file is removed and FILE keeps
its previous bytes: a reader such as node_exporter's textfile collector never sees half a file. The temporary
file is named ``.FILE.XXXXXXXX.tmp``: hidden, and not ``*.prom``, so the textfile collector ignores it.

The new file gets the mode of the file it replaces, or a new file's mode under the umask (``0666 & ~umask``, as
the shell's ``>`` would create it), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def _umask() -> int:
    """The process umask, read without changing it where the system allows (``os.umask`` sets it, which would
    race with files other threads create meanwhile)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def target(path: str | os.PathLike[str]) -> Path:
    """Where the bytes finally go: FILE itself, or the file a symlink FILE points at (the link stays)."""
    p = Path(path).expanduser()
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def check_target(path: str | os.PathLike[str]) -> str | None:
    """Why FILE cannot be written (for a usage error before any request), or None."""
    p = target(path)
    folder = p.parent
    if p.is_dir():
        return f"{p} is a directory"
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable (the temporary file goes beside FILE)"
    return None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """A text stream whose content replaces ``path`` when the block succeeds (see the module docstring)."""
    final = target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        try:
            mode = stat.S_IMODE(os.stat(final).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding=encoding, newline="") as stream:
            fd = -1  # owned by the stream now
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, final)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
