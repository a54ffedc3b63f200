"""Docs cannot drift: the README and every ``--help`` describe the app as it is.

- every command and every option of the command tree appears in README.md;
- every ``balcli`` line of the README's ```` ```sh ```` blocks runs against a sandbox and exits 0 (blocks marked
  ```` ```text ```` need a terminal, a crontab or a real server and are not run);
- every command's ``--help`` has a summary, its row fields and at least two examples;
- the README's configuration keys are the loader's;
- every ``docs/apis/`` page and section and every README section the code cites exists, the pages' own links
  resolve, and nothing cites the notes that live outside the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup, TyperOption

from balcli import config
from balcli import exchanges as registry
from tests.conftest import sandbox_environment

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def command_tree() -> list[tuple[str, typer.core.TyperCommand]]:
    """(path, command) for the root ("") and every group and command under it, in declaration order."""
    from balcli.app import build_app

    root = typer.main.get_command(build_app())
    found: list[tuple[str, typer.core.TyperCommand]] = []

    def walk(path: str, cmd) -> None:
        found.append((path, cmd))
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(f"{path} {name}".strip(), sub)

    walk("", root)
    return found


TREE = command_tree()
LEAVES = [(path, cmd) for path, cmd in TREE if path and not isinstance(cmd, TyperGroup)]


def help_text(path: str) -> str:
    proc = subprocess.run([str(BIN / "balcli"), *path.split(), "--help"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def mentioned(word: str, text: str = README) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# -- every command and option is in the README --------------------------------------------------------------

@pytest.mark.parametrize("path", [path for path, _ in TREE if path])
def test_every_command_is_in_the_readme(path):
    assert f"balcli {path}" in README, f"README.md never shows `balcli {path}`"


@pytest.mark.parametrize("path,cmd", TREE, ids=[p or "balcli" for p, _ in TREE])
def test_every_option_is_in_the_readme(path, cmd):
    missing = [opt for param in cmd.params if isinstance(param, TyperOption)
               for opt in (*param.opts, *param.secondary_opts) if not mentioned(opt)]
    assert not missing, f"options of `balcli {path}` missing from README.md: {missing}"


# -- every --help has a summary, its fields and examples ------------------------------------------------------

def views_by_command() -> dict[str, list]:
    """Each row view, under the command that prints it (``"snapshot spot"`` belongs to ``snapshot``)."""
    from balcli import views
    from balcli.commands import auth, config_cmd
    from balcli.schema import View

    all_views = [v for v in vars(views).values() if isinstance(v, View)]
    all_views += [v for d in vars(views).values() if isinstance(d, dict) for v in d.values() if isinstance(v, View)]
    all_views += [auth.VIEW, config_cmd.VIEW]
    paths = {p for p, _ in LEAVES}
    out: dict[str, list] = {}
    for view in all_views:
        words = view.name.split()
        owner = next(" ".join(words[:n]) for n in range(len(words), 0, -1) if " ".join(words[:n]) in paths)
        out.setdefault(owner, []).append(view)
    return out


VIEWS = views_by_command()
SOURCE_COMMANDS = ["broker", "spot", "snapshot", "invitees", "oauth balances", "oauth history"]


def test_every_source_command_has_views():
    assert set(SOURCE_COMMANDS) <= set(VIEWS)


@pytest.mark.parametrize("path", [p for p, _ in LEAVES])
def test_help_has_summary_fields_and_examples(path):
    text = help_text(path)
    summary = text.split("\n\n")[1].strip()
    assert summary and not summary.startswith("Options"), f"`balcli {path} --help` has no one-line summary"
    for view in VIEWS.get(path, []):
        missing = [f.name for f in view.fields if not mentioned(f.name, text)]
        assert not missing, f"`balcli {path} --help` does not list the fields {missing} ({view.name})"
    assert "Examples:" in text, f"`balcli {path} --help` has no examples"
    examples = text.split("Examples:", 1)[1].split("\nOptions:", 1)[0].split("\nArguments:", 1)[0]
    assert len(re.findall(r"\bbalcli\b", examples)) >= 2, f"`balcli {path} --help` has fewer than two examples"
    if path in VIEWS:
        assert "| jq" in examples, f"`balcli {path} --help` has no `--json | jq` example"
    if path in SOURCE_COMMANDS:
        assert re.search(r"^\s*[\d*/,-]+ [\d*/,-]+ \* \* \* balcli ", examples, re.M), \
            f"`balcli {path} --help` has no cron example"


def test_help_shows_option_defaults():
    text = help_text("broker")
    # each default and range once, in one bracket (issue 13)
    assert "[default: 50; 1 to 50]" in text and "[default: 10; 0.1 to 600]" in text
    assert "[default: 4; 0 to 20]" in text


# -- the README's configuration keys are the loader's -------------------------------------------------------

def readme_section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_config_keys_match_the_loader():
    section = readme_section("Configuration")
    bullets = re.findall(r"^- `([^`]+)`(.*(?:\n  .*)*)", section.split("Keys:", 1)[1], re.M)
    assert bullets, "the Configuration section lists no keys"
    top, defaults, exchanges = set(), set(), {}
    for head, rest in bullets:
        named = [k for k in re.findall(r"`([^`]+)`", rest) if not k.startswith("BALCLI_") and k != "<config dir>"
                 and re.fullmatch(r"[a-z_]+", k)]
        if head == "profiles.<name>.checks":
            top.add("profiles")
        elif head.startswith("profiles.<name>."):
            top.add("profiles")
            exchanges[head.rsplit(".", 1)[1]] = set(named)
        else:
            top.add(head)
            if head == "defaults":
                defaults = set(named)
    assert top == set(config.TOP_KEYS)
    assert defaults == set(config.DEFAULTS_KEYS)
    assert exchanges == {e.name: {o.name for o in e.keys} for e in registry.EXCHANGES.values()}


def test_config_example_yaml_has_every_readme_key():
    example = (ROOT / "config.example.yaml").read_text()
    for key in [*config.TOP_KEYS, *config.DEFAULTS_KEYS, *{o.name for e in registry.EXCHANGES.values() for o in e.keys}]:
        assert re.search(rf"^\s*#?{key}:", example, re.M), key


# -- every README example runs ----------------------------------------------------------------------------

def readme_examples() -> list[str]:
    """The lines of the ```sh blocks, in README order; each one must be a balcli command line."""
    lines: list[str] = []
    for block in re.findall(r"^( *)```sh\n(.*?)^\1```", README, re.M | re.S):
        for line in block[1].splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


EXAMPLES = readme_examples()
RUNS_BALCLI = re.compile(r"(^|\|\s*|^(?:[A-Z_]+=\S+\s+)+)balcli ")


def test_readme_has_examples_and_all_are_balcli_lines():
    assert len(EXAMPLES) > 30
    assert [line for line in EXAMPLES if not RUNS_BALCLI.search(line)] == []


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory):
    """One sandbox for every example, an empty config dir and no real keyring."""
    from balcli.sandbox import Sandbox

    home = tmp_path_factory.mktemp("docs")
    with Sandbox() as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BALCLI_") and k != "NO_COLOR"}
        env.update(sandbox_environment(sb))
        env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "XDG_CONFIG_HOME": str(home / "config"),
                    "HOME": str(home), "NO_PROXY": "127.0.0.1,localhost",
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "KEY": "docs-example-key-0001", "SECRET": "docs-example-secret-0001"})
        yield env


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pipeline(line: str) -> list[str]:
    """The commands of a shell pipeline (split at the ``|`` outside quotes; ``||`` is not a pipe)."""
    parts, start, quote, i = [], 0, "", 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "|":
            if line[i + 1:i + 2] == "|":
                i += 1
            else:
                parts.append(line[start:i].strip())
                start = i + 1
        i += 1
    return parts + [line[start:].strip()]


def runnable(line: str, path: str) -> str:
    """The line as the test runs it: from a pipe into a tool that is not installed on, the rest is dropped."""
    parts = pipeline(line)
    for i, part in enumerate(parts[1:], 1):
        if shutil.which(part.split()[0], path=path) is None:
            return " | ".join(parts[:i])
    return line


@pytest.mark.parametrize("line", EXAMPLES)
def test_readme_example_runs(line, docs_env):
    env = dict(docs_env)
    if " snapshot" in line:
        env["BALCLI_SANDBOX"] = "1"  # a sandbox of its own: Binance allows five snapshot calls a minute
    command = runnable(line, env["PATH"])
    if line.startswith("balcli sandbox serve"):
        port = re.search(r"--port (\d+)", command)
        if port and not _port_free(int(port.group(1))):
            command = command.replace(port.group(0), "--port 0")
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, env=env)
        try:
            first = proc.stdout.readline()
            assert "listening on http://127.0.0.1:" in first, first + proc.stderr.read()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    # `| head` closes the pipe early: balcli's own exit status is then not the point.
    pipefail = "" if any(p.startswith("head") for p in pipeline(command)) else "set -o pipefail; "
    proc = subprocess.run(["bash", "-c", pipefail + command], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=60)
    assert proc.returncode == 0, f"{command!r} exited {proc.returncode}:\n{proc.stderr}"
    if not re.search(r"balcli (-p \S+ )?(auth|config) ", command):  # management commands may print nothing
        assert proc.stdout.strip(), f"{command!r} printed nothing"
    assert "Traceback" not in proc.stderr


# -- the code cites docs/apis/ pages and sections that exist ----------------------------------------------

DOCS_APIS = ROOT / "docs" / "apis"
API_PAGES = ("zoomex.md", "coinw-spot.md", "coinw-affiliate.md", "binance.md", "cryptofuse.md")
CITING = ("balcli", "tests", "benchmarks")
# docs/apis/<page>.md, then optionally #anchor or , "Section" (the heading's exact text)
CITATION = re.compile(r'docs/apis/([\w.-]+\.md)(?:#([\w-]+)|,\s*"([^"\n]+)")?')
# The notes outside the repository that the code used to cite: the API notes, the product spec and the style
# guide (spelt so that this file does not match itself). Cite docs/apis/ or a README section instead.
STALE = re.compile(r"API-SPE[C]|api-doc[s]/|\bSPE[C] §|\bSPE[C]\.md|\bSTYL[E]\.md|\bSTYL[E] example")
# The word README, then a README heading's exact text (## or ###) in double quotes (spelt not to match itself)
README_CITATION = re.compile(r'READM[E] "([^"\n]+)"')


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {m.group(1).strip() for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t]*$", text, re.M)}


def broken_reference(page_name: str, anchor: str | None, section: str | None) -> str | None:
    page = DOCS_APIS / page_name
    if not page.is_file():
        return f"docs/apis/{page_name} does not exist"
    titles = headings(page)
    if anchor is not None and anchor not in {slug(t) for t in titles}:
        return f"docs/apis/{page_name} has no heading with the anchor #{anchor}"
    if section is not None and section not in titles:
        return f'docs/apis/{page_name} has no heading "{section}"'
    return None


def text_files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_every_api_has_a_page_naming_the_vendor_docs():
    for name in API_PAGES:
        page = DOCS_APIS / name
        assert page.is_file(), f"docs/apis/{name} is missing"
        vendor = page.read_text(encoding="utf-8").split("\n## Vendor documentation\n", 1)
        assert len(vendor) == 2, f"docs/apis/{name} has no 'Vendor documentation' section"
        assert "https://" in vendor[1].split("\n## ", 1)[0], f"docs/apis/{name} names no vendor documentation URL"
    index = (DOCS_APIS / "README.md").read_text(encoding="utf-8")
    assert all(f"]({name})" in index for name in API_PAGES), "docs/apis/README.md does not link every page"


def test_cited_docs_pages_and_sections_exist():
    problems, cited = [], 0
    for top in CITING:
        for path in (ROOT / top).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for m in CITATION.finditer(text):
                cited += 1
                problem = broken_reference(*m.groups())
                if problem:
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {problem}")
    assert cited >= 40, f"only {cited} docs/apis citations found: is the pattern still right?"
    assert not problems, "\n".join(problems)


def test_docs_pages_links_resolve():
    problems = []
    for page in sorted(DOCS_APIS.glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            name, _, anchor = target.partition("#")
            problem = broken_reference(name or page.name, anchor or None, None)
            if problem:
                problems.append(f"docs/apis/{page.name}: link ({target}): {problem}")
    assert not problems, "\n".join(problems)


def test_nothing_cites_notes_outside_the_repository():
    found = []
    for top in CITING:
        for path in text_files(top):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            found += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                      for m in STALE.finditer(text)]
    assert not found, "cite docs/apis/<page>.md or a README section instead:\n" + "\n".join(found)


def test_every_readme_section_the_code_cites_exists():
    sections = {m.group(1).strip() for m in re.finditer(r"^#{2,3} (.+)$", README, flags=re.M)}
    missing = []
    for top in CITING:
        for path in text_files(top):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            missing += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                        for m in README_CITATION.finditer(text) if m.group(1) not in sections]
    assert not missing, "no such README heading:\n" + "\n".join(missing)
