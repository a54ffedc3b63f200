"""The root command: the exit funnel, start-up laziness, help, and the process-level behaviours."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from balcli import __version__

HEAVY = ("requests", "rich", "keyring", "yaml", "urllib3", "pydantic")


def imported_modules(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m balcli ARGS`` and return the top-level modules it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "balcli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)
    names = set()
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", line)
        if m:
            names.add(m.group(1).split(".")[0])
    return proc, names


def test_version_answers_before_importing_anything_heavy():
    proc, names = imported_modules("--version")
    assert proc.returncode == 0
    assert f"balcli {__version__}" in proc.stdout
    assert not names & {*HEAVY, "typer"}, names & {*HEAVY, "typer"}


def test_help_needs_no_network_keyring_yaml_or_rich():
    proc, names = imported_modules("--help")
    assert proc.returncode == 0 and "broker" in proc.stdout
    assert not names & set(HEAVY), names & set(HEAVY)


def test_broker_help_needs_none_of_them_either():
    proc, names = imported_modules("broker", "--help")
    assert proc.returncode == 0 and "user_id, coin, total_balance" in proc.stdout
    assert not names & set(HEAVY), names & set(HEAVY)


def test_version_in_process(cli):
    r = cli("--version")
    assert (r.code, r.out) == (0, f"balcli {__version__}\n")


def test_no_command_shows_help_and_usage_exit(cli):
    r = cli()
    assert "Usage: balcli" in r.out + r.err
    assert r.code in (0, 2)


def test_unknown_command_is_a_usage_error(cli):
    r = cli("nope")
    assert r.code == 2 and "balcli: error: no such command: 'nope'" in r.err


def test_unknown_option_names_it(cli):
    r = cli("broker", "--colour")
    assert r.code == 2 and "--colour" in r.err


def test_typer_app_never_shows_locals():
    from balcli.app import build_app

    app = build_app()
    assert app.pretty_exceptions_show_locals is False
    assert app.pretty_exceptions_enable is False


def test_format_env_and_config_precedence(cli, monkeypatch, config_dir):
    from balcli.commands.common import CommonOptions, Run
    from balcli.render import OutputFormat

    (config_dir / "config.yaml").write_text("defaults: {format: csv}\n")
    monkeypatch.setenv("BALCLI_FORMAT", "ndjson")
    from balcli import config

    settings = config.load()
    assert settings.format.value == "ndjson" and settings.format.origin == "env"
    run = Run(globals=None, common=CommonOptions(json=True), exchange="zoomex", settings=settings)
    assert run.output_format() is OutputFormat.json
    run = Run(globals=None, common=CommonOptions(), exchange="zoomex", settings=settings)
    assert run.output_format() is OutputFormat.ndjson
    monkeypatch.delenv("BALCLI_FORMAT")
    run = Run(globals=None, common=CommonOptions(), exchange="zoomex", settings=config.load())
    assert run.output_format() is OutputFormat.csv


def test_bad_format_env_is_a_config_error(cli, monkeypatch):
    monkeypatch.setenv("BALCLI_FORMAT", "xml")
    r = cli("broker")
    assert r.code == 3 and "BALCLI_FORMAT" in r.err


def test_common_options_reach_the_command_as_one_object():
    import inspect

    from balcli.commands.broker import broker

    params = inspect.signature(broker).parameters
    for name in ("format", "json", "csv", "fields", "no_header", "base_url", "timeout", "max_retries", "uid"):
        assert name in params
    assert "common" not in params


# -- stdout/stderr that cannot encode every character (an ASCII locale) -------------------------------------------

def narrow_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BALCLI_", "LC_", "PYTHONIOENCODING", "PYTHONUTF8")) and k != "LANG"}
    return {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **extra}


NARROW = [pytest.param({"PYTHONIOENCODING": "ascii"}, id="PYTHONIOENCODING=ascii"),
          pytest.param({"LC_ALL": "POSIX", "PYTHONUTF8": "0"}, id="LC_ALL=POSIX"),
          pytest.param({"PYTHONIOENCODING": "latin-1"}, id="PYTHONIOENCODING=latin-1")]


@pytest.mark.parametrize("encoding", NARROW)
@pytest.mark.parametrize("fmt", ["tsv", "table", "json"])
def test_auth_status_prints_in_an_ascii_locale(encoding, fmt):
    """Was: the header line, then `internal error (UnicodeEncodeError)`, exit 1 (the `…` of a masked key)."""
    proc = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", "auth", "status", "-o", fmt],
                          capture_output=True, env=narrow_env(**encoding), timeout=60)
    assert (proc.returncode, proc.stderr) == (0, b"")
    out = proc.stdout.decode("ascii")
    assert out.count("sand...0001") == 3 and "sand...ient" in out
    if fmt == "table":  # the key column is measured as it is shown
        lines = out.splitlines()  # (no trailing pad spaces: the columns after the key must still line up)
        body = [line for line in lines[2:] if line.strip()]
        assert {line.index("sandbox demo") for line in body} == {lines[0].index("location")}, lines


@pytest.mark.parametrize("encoding", NARROW)
def test_an_error_message_with_a_character_the_terminal_lacks_is_still_shown(encoding):
    env = narrow_env(**encoding, BALCLI_ZOOMEX_API_KEY="zoomex-key-0123\u2026", BALCLI_ZOOMEX_API_SECRET="s" * 16,
                     BALCLI_ZOOMEX_BASE_URL="http://127.0.0.1:9")
    proc = subprocess.run([sys.executable, "-m", "balcli", "broker", "--max-retries", "0"], capture_output=True,
                          env=env, timeout=60)
    assert (proc.returncode, proc.stdout) == (3, b"")
    err = proc.stderr.decode("ascii")
    assert err.startswith("balcli: error: BALCLI_ZOOMEX_API_KEY contains ") and "\nhint: " in err
    if "PYTHONIOENCODING" in encoding:  # (in the POSIX locale the variable itself is undecodable: "control characters")
        assert "(such as a pasted '...')" in err
