"""Global options anywhere (README "Commands"): ``balcli broker --sandbox`` = ``balcli --sandbox broker``, as kubectl and gh
take theirs; option values that look like flags and everything after ``--`` are left alone."""

from __future__ import annotations

import pytest
import typer

from balcli.app import build_app, command_in
from balcli.commands import usage


@pytest.fixture(scope="module")
def root():
    command = typer.main.get_command(build_app())
    usage.tidy(command)
    return command


def _walk(command, path=()):
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _walk(sub, path + (name,))


def test_no_command_defines_a_global_option_name(root):
    """Else moving it in front of the command would take it from the command."""
    names = usage.GLOBAL_VALUE_OPTIONS | usage.GLOBAL_FLAG_OPTIONS
    for path, command in _walk(root):
        if not path:
            continue
        for param in command.params:
            clash = set(getattr(param, "opts", ())) & names
            assert not clash, (path, clash)


@pytest.mark.parametrize(("args", "expected"), [
    (["broker", "--sandbox"], ["--sandbox", "broker"]),
    (["broker", "--json", "-vv", "--debug"], ["-vv", "--debug", "broker", "--json"]),
    (["oauth", "history", "-p", "main", "--type", "deposit"], ["-p", "main", "oauth", "history", "--type",
                                                                "deposit"]),
    (["-p", "a", "broker", "-p", "b"], ["-p", "a", "-p", "b", "broker"]),  # the later one wins, as before
    (["broker", "--profile=x", "--config", "/tmp/c.yaml"], ["--profile=x", "--config", "/tmp/c.yaml", "broker"]),
    (["spot", "-ptestnet"], ["-ptestnet", "spot"]),
    # values of the command's own options stay with them, even when they look like a global option
    (["broker", "--coin", "-v"], ["broker", "--coin", "-v"]),
    (["oauth", "history", "--type", "--sandbox"], ["oauth", "history", "--type", "--sandbox"]),
    (["broker", "-o", "-v"], ["broker", "-o", "-v"]),
    # an unknown command or everything after `--`: as given, for the parser to judge
    (["brokr", "--sandbox"], ["brokr", "--sandbox"]),
    (["auth", "set", "zoomex", "--", "--sandbox"], ["auth", "set", "zoomex", "--", "--sandbox"]),
    (["--sandbox", "spot"], ["--sandbox", "spot"]),
])
def test_hoist(root, args, expected):
    assert usage.hoist(root, args) == expected
    assert command_in(expected) in (command_in(args), None)  # None: every command is built (still right)


@pytest.mark.parametrize("args", [["broker", "--sandbox", "--json", "--max-items", "3"],
                                  ["--sandbox", "broker", "--json", "--max-items", "3"],
                                  ["broker", "--json", "--max-items", "3", "--sandbox"]])
def test_sandbox_before_or_after_the_command_is_the_same_run(cli, args):
    r = cli(*args)
    assert (r.code, r.err) == (0, "")
    assert [row["user_id"] for row in r.json()] == [row["user_id"] for row in cli(
        "--sandbox", "broker", "--json", "--max-items", "3").json()]


def test_verbose_after_the_command_logs_each_request(cli):
    r = cli("spot", "--json", "--sandbox", "-v")
    assert r.code == 0
    assert "GET" in r.err or "POST" in r.err


def test_config_after_the_command_is_read(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    r = cli("config", "show", "--config", str(missing))
    assert r.code == 3 and f"config file {missing} does not exist" in r.err


def test_a_global_value_option_without_its_value_is_a_usage_error(cli):
    r = cli("broker", "--json", "-p")
    assert r.code == 2
    assert r.err.splitlines() == ["balcli: error: option '-p' requires an argument",
                                  "hint: give it a value: -p NAME (see `balcli --help`)"]


# -- one help style (issue 13, item 6) ---------------------------------------------------------------------

def _paths():
    command = typer.main.get_command(build_app())
    return [list(path) for path, _ in _walk(command)]


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "balcli")
def test_help_has_one_style(cli, path):
    """Upper-case metavars, each default, range and environment variable stated once, EXCHANGE in usage."""
    r = cli(*path, "--help")
    assert r.code == 0, r.err
    text = r.out
    import re

    assert not re.search(r"<(str|int|float|int range|float range|[a-z]+\|[a-z|]+)>", text), text
    assert "<=x" not in text and "x>=" not in text and "env var:" not in text, text
    assert "{exchange}" not in text and ":<zoomex" not in text, text
    assert text.count("BALCLI_SANDBOX") <= 1
    options = re.split(r"\n  (?=-)", text.split("Options:", 1)[-1])
    for option in options:
        assert option.count("default:") <= 1, option
        metavar = re.match(r"(?:-\w, )?--[\w-]+(?: / --[\w-]+)? ?([^ \n]*)", option.strip())
        if metavar and metavar.group(1):
            assert metavar.group(1) == metavar.group(1).upper(), option
