"""Files are replaced, never rewritten in place (``--output/-O FILE``, README "Commands").

``atomic_output(path)`` hands out a text stream on a temporary file in FILE's own folder (so the final rename
never crosses a file system) and renames it over FILE only when the ``with`` block ends without an exception.
On any exception (a failed page, ``KeyboardInterrupt``, a full disk) the temporary file is removed and FILE keeps
its previous bytes: a reader such as node_exporter's textfile collector never sees half a file. The temporary
file is named ``.FILE.XXXXXXXX.tmp``: hidden, and not ``*.prom``, so the textfile collector ignores it.

The new file gets the mode of the file it replaces, or a new file's mode under the umask (``0666 & ~umask``, as
the shell's ``>`` would create it), not ``mkstemp``'s 0600.

balcli's own files (credentials file, token cache, config file) use the smaller helpers below, so that nothing is
ever lost:

- ``private_dir(path)``: create a folder (and every missing parent) mode 0700: secrets and caches live there.
- ``atomic_write(path, data, mode=0o600)``: a temporary file in the same folder, fsynced, then ``os.replace``:
  readers see the old file or the new one, never half of one; a failed write (full disk, read-only folder)
  leaves the previous file exactly as it was and no temporary file behind. Raises ``OSError``.
- ``locked(path)``: an exclusive ``flock`` on ``<folder>/.<name>.lock`` for a read-modify-write, so that
  concurrent runs (``auth set`` for two exchanges at once) never lose each other's update.

Callers turn ``OSError`` into their own error (exit 3 for balcli's own files).
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


# -- balcli's own files: private folders, atomic writes, locks -----------------------------------

def private_dir(path: Path) -> None:
    """``path`` and each missing parent created mode 0700 (``Path.mkdir(parents=True)`` gives parents the
    umask's mode, 0755 as a rule). Existing folders are left as they are."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # the umask may have taken bits away; never added any


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring); the folder is created 0700."""
    private_dir(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(raw):x}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of ``path`` (a lock file beside it, mode 0600)."""
    private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the atomic replace still holds
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
