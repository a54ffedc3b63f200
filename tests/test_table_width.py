"""Wide tables on an 80-column terminal (issue 13, item 9): never wrapped mid-cell by the terminal. The columns
that fit are shown in field order and the hidden ones named on stderr; ``--wide`` shows all (as ``kubectl -o
wide``); a prose column (doctor's detail) wraps at words instead. A table in a file has every column and no
trailing spaces."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys

import pytest

from balcli.render import PROSE_MIN, choose_columns
from tests.conftest import sandbox_environment

pty = pytest.importorskip("pty")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def run_at(columns: int, args: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """balcli with stdout and stderr on one pty of ``columns`` x 24; the lines the terminal showed."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    child_env = {k: v for k, v in {**os.environ, **env, "TERM": "xterm", "NO_COLOR": "1"}.items()
                 if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "balcli", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=child_env)
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "balcli hung"
        try:
            chunk = os.read(master, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        shown += chunk
    os.close(master)
    lines = shown.decode().replace("\r\n", "\n").split("\n")
    # what stays on screen: after a carriage return the line is drawn again (the progress line is cleared so)
    return proc.wait(timeout=30), [ANSI.sub("", line.rsplit("\r", 1)[-1]) for line in lines]


def table_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("balcli: ")]  # notes may wrap, as any message


def test_choose_columns():
    assert choose_columns([9, 20, 20, 20, 20], 80) == ([0, 1, 2, 3], [9, 20, 20, 20])  # 80 exactly
    assert choose_columns([9, 20, 20, 21, 20], 80) == ([0, 1, 2], [9, 20, 20])
    assert choose_columns([200, 3], 80) == ([0], [200])  # the first column always, never cut
    assert choose_columns([6, 11, 4, 120], 80, [False, False, False, True]) == ([0, 1, 2, 3], [6, 11, 4, 48])
    assert choose_columns([60, 120], 80, [False, True])[0] == [0]  # not even PROSE_MIN left for it
    assert choose_columns([50, 10], 100, [False, True]) == ([0, 1], [50, 10])  # a short prose cell keeps its width
    assert PROSE_MIN <= 30


@pytest.fixture
def env(sandbox):
    return sandbox_environment(sandbox)


@pytest.mark.integration
def test_invitees_at_80_columns_shows_what_fits_and_names_the_rest(env):
    code, lines = run_at(80, ["invitees", "--max-items", "5", "-o", "table"], env)
    assert code == 0
    assert all(len(line) <= 80 for line in table_lines(lines)), [line for line in lines if len(line) > 80]
    note = next(line for line in lines if line.startswith("balcli: note:"))
    header = next(line for line in lines if line.split()[:1] == ["uid"])
    hidden = re.search(r"80 columns: (.*) \(", note).group(1).split(", ")
    assert header.split() + hidden == ["uid", "total_deposit", "total_withdrawal", "current_balance", "update_time",
                                       "first_deposit_amount", "first_deposit_time"]
    assert "--wide" in note and "hidden to fit 80 columns" in note
    body = [line for line in lines if re.match(r"^\s+\d+\s", line)]
    assert len(body) == 5 and all(len(line.split()) == len(header.split()) for line in body)


@pytest.mark.integration
def test_wide_shows_every_column(env):
    code, lines = run_at(80, ["invitees", "--max-items", "5", "-o", "table", "--wide"], env)
    assert code == 0
    assert not any(line.startswith("balcli: note:") for line in lines)
    assert any("first_deposit_time" in line for line in lines)


@pytest.mark.integration
def test_doctor_at_80_columns_wraps_the_detail_at_words(env):
    code, lines = run_at(80, ["doctor", "-o", "table"], env)
    assert code == 0
    assert all(len(line) <= 80 for line in table_lines(lines)), lines
    assert not any(line.startswith("balcli: note:") for line in lines)
    assert re.match(r"^\s*exchange\s+check\s+status\s+detail\s*$", lines[0])


def test_a_table_in_a_file_has_every_column_and_no_trailing_spaces(cli, sandbox_env):
    r = cli("invitees", "--max-items", "5", "-o", "table")
    assert r.code == 0 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0].split() == ["uid", "total_deposit", "total_withdrawal", "current_balance", "update_time",
                                "first_deposit_amount", "first_deposit_time"]
    assert not [line for line in lines if line != line.rstrip()]
