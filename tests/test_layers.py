"""The layers hold: ``cli -> commands -> sources -> http -> signing``, one way only (read from the imports).

Every import in the package counts, including the lazy ones inside functions: a layer that reaches up, even
late, ties the lower layer to the upper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "balcli"

# Lower number = closer to the user. A module may import modules of its own level or below, never above.
LEVELS = {"__main__": 0, "cli": 0, "app": 0, "completion_scripts": 0, "commands": 1, "_typer_compat": 1, "sources": 2, "http": 3, "limiter": 3,
          "redaction": 3, "pagination": 3, "signing": 4}
# Shared building blocks that any layer may use; they use no layer above the transport themselves.
SHARED = {"errors", "amounts", "config", "credentials", "exchanges", "options", "views", "schema", "render",
          "timeparse", "files", "prometheus", "rules", "history", "__init__"}
# Only the output side draws: rich in rendering and in the commands' progress display, typer in the CLI.
MAY_IMPORT_RICH = {"render", "commands"}
MAY_IMPORT_TYPER = {"cli", "app", "completion_scripts", "_typer_compat", "commands"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "sandbox":  # its own rule: test_sandbox (imports nothing of the client)
            continue
        found.append((".".join(rel.with_suffix("").parts), path))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _imports(path: Path) -> set[str]:
    """Every module the file imports, as dotted names (``balcli.x.y`` reduced to ``x.y``; others as given)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "balcli":
                names.update(f"balcli.{alias.name}" for alias in node.names)
            elif node.module.startswith("balcli."):
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _level(module: str) -> int | None:
    top = _top(module)
    return None if top in SHARED else LEVELS.get(top)


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_a_layer_above_its_own(module, path):
    own = _level(module)
    up = []
    for name in _imports(path):
        if not name.startswith("balcli."):
            continue
        target = name[len("balcli."):]
        level = _level(target)
        if level is None:
            continue
        if own is None:  # a shared block: nothing above the transport
            if level < LEVELS["http"] and _top(target) != _top(module):
                up.append(target)
        elif level < own:
            up.append(target)
    assert not up, f"balcli.{module} reaches up a layer: {sorted(up)}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_only_the_cli_side_imports_typer_and_rich(module, path):
    third = {_top(name) for name in _imports(path)}
    if "typer" in third or "click" in third:
        assert _top(module) in MAY_IMPORT_TYPER, f"balcli.{module} imports typer/click"
    if "rich" in third:
        assert _top(module) in MAY_IMPORT_RICH, f"balcli.{module} imports rich"


def test_only_the_shim_touches_typer_internals():
    """typer's private modules (and click, vendored as ``typer._click`` from 0.26) changed between the releases
    pyproject.toml allows; ``balcli._typer_compat`` is the one place that knows how (and ``make test-floor``
    runs it against the lowest one)."""
    def private(name: str) -> bool:
        return _top(name) == "click" or name.startswith(("typer._", "typer.exceptions"))

    offenders = {}
    for module, path in _modules():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if private(alias.name))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                full = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                found.update(name for name in full if private(name))
        if found and module != "_typer_compat":
            offenders[module] = sorted(found)
    assert not offenders


def test_signing_imports_nothing_from_balcli():
    assert not {n for n in _imports(PACKAGE / "signing.py") if n.startswith("balcli")}


def test_the_transport_names_no_exchange_and_imports_no_source():
    for name in ("http.py", "limiter.py", "redaction.py", "pagination.py"):
        imported = _imports(PACKAGE / name)
        assert not {n for n in imported if n.startswith(("balcli.sources", "balcli.exchanges"))}, name
        code = (PACKAGE / name).read_text(encoding="utf-8")
        tree = ast.parse(code)
        strings = {n.value.lower() for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        from balcli.exchanges import NAMES

        assert not strings & set(NAMES), f"{name} names an exchange in a string"


def test_the_rule_sees_a_violation():
    """The checker itself: an import that reaches up is caught (guards against a test that checks nothing)."""
    assert "balcli.commands.common" in _imports(PACKAGE / "app.py") or "balcli.commands" in _imports(PACKAGE / "app.py")
    assert _level("sources.zoomex") == 2 and _level("commands.broker") == 1 and _level("http") == 3
    assert _level("config") is None
