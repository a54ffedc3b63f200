"""Shell completion: the committed scripts are what the app generates, and a real bash offers the right words."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from balcli import completion_scripts

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", sorted(completion_scripts.FILES))
def test_committed_scripts_are_not_stale(shell):
    committed = (ROOT / "completions" / completion_scripts.FILES[shell]).read_text()
    assert committed == completion_scripts.script(shell), "run `make completions` and commit completions/"


def bash_complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    """What `balcli.bash` offers for the last word of ``line`` in a real bash."""
    words = line.split(" ")
    script = ROOT / "completions" / "balcli.bash"
    program = f"""
source {script}
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
_balcli_completion balcli
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          env={**os.environ, "PATH": path, **(env or {})}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


@needs_bash
def test_bash_completes_commands():
    assert bash_complete("balcli sn") == ["snapshot"]
    assert set(bash_complete("balcli ")) >= {"broker", "spot", "snapshot", "invitees", "oauth", "auth", "config"}


@needs_bash
def test_bash_completes_fixed_choices():
    assert sorted(bash_complete("balcli snapshot --type ")) == ["futures", "margin", "spot"]
    assert sorted(bash_complete("balcli broker -o ")) == ["csv", "json", "ndjson", "prometheus", "table", "tsv"]
    assert sorted(bash_complete("balcli invitees --quote ")) == ["usdc", "usdt"]
    assert sorted(bash_complete("balcli auth set ")) == ["binance", "coinw", "cryptofuse", "zoomex"]


@needs_bash
def test_bash_completes_options():
    offered = bash_complete("balcli broker --p")
    assert "--page-size" in offered and "--profile" not in offered


@needs_bash
def test_bash_completes_profile_names_from_the_config(config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  main: {}\n  testnet: {}\n  mainnet-2: {}\n")
    assert bash_complete("balcli --profile ") == ["main", "mainnet-2", "testnet"]
    assert bash_complete("balcli --profile ma") == ["main", "mainnet-2"]


def shell_complete(shell: str, line: str, env: dict[str, str] | None = None) -> list[str]:
    """What the committed zsh or fish script offers for the last word of ``line``, in that real shell.

    zsh: after ``compinit``, the script is sourced and ``_arguments`` (what Typer's answer calls) is replaced by a
    function that prints its spec, so no terminal is needed; the words are taken from the spec's quoted values.
    fish: ``complete -C LINE`` prints the candidates, one per line (a tab then the description).
    """
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = ROOT / "completions" / completion_scripts.FILES[shell]
    if shell == "zsh":
        words = line.split(" ")
        quoted = " ".join(w if w else "''" for w in words)
        program = (f"autoload -U compinit; compinit -u; source {script}; "
                   f"_arguments() {{ print -r -- \"$@\" }}; words=({quoted}); CURRENT={len(words)}; "
                   "_balcli_completion")
        cmd = ["zsh", "-f", "-c", program]
    else:
        cmd = ["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"]
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PATH": path, **(env or {})},
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    if shell == "fish":
        return [w.split("\t", 1)[0] for w in proc.stdout.splitlines() if w]
    return re.findall(r'[( \n]"((?:[^"\\]|\\.)*)"', proc.stdout)


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_complete_commands_and_choices(shell):
    assert shell_complete(shell, "balcli sn") == ["snapshot"]
    assert sorted(shell_complete(shell, "balcli snapshot --type ")) == ["futures", "margin", "spot"]
    assert sorted(shell_complete(shell, "balcli auth set ")) == ["binance", "coinw", "cryptofuse", "zoomex"]
    assert "--page-size" in shell_complete(shell, "balcli broker --p")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_complete_profile_names(shell, config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  main: {}\n  testnet: {}\n")
    assert sorted(shell_complete(shell, "balcli -p ")) == ["main", "testnet"]


@needs_bash
def test_bash_completes_field_names_of_the_view():
    """Was: `--fields <TAB>` offered file names."""
    assert bash_complete("balcli broker --fields ") == ["user_id", "coin", "total_balance"]
    assert bash_complete("balcli broker --total --fields ") == ["coin", "users", "total_balance"]
    assert bash_complete("balcli broker --fields coin,to") == ["coin,total_balance"]  # after a comma too
    assert bash_complete("balcli spot --complete --fields coin,") == ["coin,available", "coin,on_orders",
                                                                      "coin,total"]
    assert "borrowed" in bash_complete("balcli snapshot --type margin --fields ")
    assert bash_complete("balcli snapshot --positions --fields s") == ["symbol"]
    assert bash_complete("balcli oauth history --fields t") == ["timestamp", "type"]
    assert bash_complete("balcli doctor --fields st") == ["status"]


@needs_bash
def test_bash_completes_field_names_of_summary_and_check():
    from balcli.views import CHECK, SUMMARY, SUMMARY_BY_COIN

    assert bash_complete("balcli summary --fields ") == list(SUMMARY.field_names)
    assert bash_complete("balcli summary --by coin --fields ") == list(SUMMARY_BY_COIN.field_names)
    assert bash_complete("balcli check --fields ") == list(CHECK.field_names)
