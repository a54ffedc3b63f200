"""The root command and ``main()``: the one place where exceptions become exit statuses (README "Exit codes").

``--version`` is answered before anything heavy is imported; typer is imported only to parse a command line,
and every command module keeps requests, rich, keyring and yaml out of its imports.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from balcli import __version__
from balcli.errors import BalcliError, ExitCode, StdoutClosed

DEBUG_FLAG = "--debug"


def _print_error(message: str, hint: str | None) -> None:
    from balcli.redaction import redact_url  # a proxy password in a URL never reaches a message

    message, hint = redact_url(message), redact_url(hint) if hint else hint
    sys.stderr.write(f"balcli: error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After the reader closed stdout (``| head``): point fd 1 at /dev/null so the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# What a stream that cannot encode a character shows instead (see _tolerate_narrow_encodings).
_LOOKALIKES = {"…": "...", "—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "→": "->"}


def _lookalike(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(_LOOKALIKES.get(c) or c.encode("ascii", "backslashreplace").decode("ascii") for c in bad), exc.end


def _tolerate_narrow_encodings() -> None:
    """stdout/stderr in ASCII or latin-1 (``LC_ALL=C``/``POSIX`` without UTF-8 mode, ``PYTHONIOENCODING=ascii``,
    an old terminal): a masked key's ``…`` or any other character the stream cannot encode would end the run
    with UnicodeEncodeError halfway through the output. Such characters are written as ASCII look-alikes
    (``...``) or ``\\uXXXX`` instead; a UTF-8 stream is left alone."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        try:
            "…".encode(stream.encoding or "ascii")
            continue
        except (UnicodeError, LookupError):
            pass
        except AttributeError:  # not a text stream: nothing to adapt
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            codecs.register_error("balcli-lookalike", _lookalike)
            reconfigure(errors="balcli-lookalike")


class _Stderr:
    """stderr that can never fail the run: when whatever reads it goes away (EPIPE) or it is closed, what is
    written to it is dropped, fd 2 is pointed at /dev/null, and stdout and the exit status are unchanged (a
    BrokenPipeError from stderr must never pass for a closed stdout)."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)  # type: ignore[attr-defined]
        except (OSError, ValueError):
            self._lost()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except (OSError, ValueError):
            self._lost()

    def _lost(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            if devnull != 2:
                os.close(devnull)
        except OSError:
            pass
        self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _guard_stderr() -> None:
    """Started with stderr closed (``2>&-``): fd 2 gets /dev/null before anything can open a file or a socket
    that would take number 2, and Python's ``sys.stderr`` (None then) becomes a real stream, so that no warning
    or ``-v`` line ever lands in stdout (``print(file=None)`` writes to stdout)."""
    try:
        os.fstat(2)
    except OSError:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            if fd != 2:
                os.dup2(fd, 2)
                os.close(fd)
        except OSError:
            pass
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stderr = _Stderr(sys.stderr)  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> NoReturn:
    _guard_stderr()
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        sys.stdout.write(f"balcli {__version__}\n")
        sys.exit(0)
    _tolerate_narrow_encodings()
    sys.exit(run(args))


def run(args: list[str]) -> int:
    """Parse and run one command line; return the exit status. Used by ``main`` and by the tests."""
    debug = DEBUG_FLAG in args[: args.index("--")] if "--" in args else DEBUG_FLAG in args
    try:
        from balcli.app import build_app, run_app

        return run_app(build_app(args), args)
    except BalcliError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(str(exc), exc.hint)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\nbalcli: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except (StdoutClosed, BrokenPipeError):  # `| head`: the reader has what it wanted
        _silence_stdout()
        return int(ExitCode.OK)
    # A bug: say so briefly; the traceback only with --debug, never with locals.
    except Exception as exc:  # noqa: BLE001
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(f"internal error: {type(exc).__name__}: {exc}" if debug else
                     f"internal error ({type(exc).__name__})",
                     None if debug else "this is a bug in balcli; run again with --debug and report the traceback")
        return int(ExitCode.INTERNAL)
