"""The declared dependency range is the tested one: ``make test-floor`` (run by CI) installs exactly the lower
bounds pyproject.toml declares, for every runtime dependency."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def runtime_requirements() -> dict[str, Requirement]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", text, flags=re.M | re.S)
    assert block, "no [project] dependencies in pyproject.toml"
    lines = [line.split("#", 1)[0].strip().rstrip(",") for line in block.group(1).splitlines()]
    reqs = [Requirement(line.strip('"')) for line in lines if line]
    return {req.name.lower(): req for req in reqs}


def floor_pins() -> dict[str, Version]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = re.search(r"^FLOOR_PINS\s*:=(.*)$", text, flags=re.M)
    assert line, "no FLOOR_PINS in the Makefile"
    return {name.lower(): Version(version) for name, version in re.findall(r"([\w.-]+)==([\w.]+)", line.group(1))}


def test_the_floor_venv_installs_every_declared_lower_bound():
    pins = floor_pins()
    for name, req in runtime_requirements().items():
        lower = [Version(spec.version) for spec in req.specifier if spec.operator == ">="]
        assert lower, f"{name}: no lower bound in pyproject.toml"
        assert pins.get(name) == lower[0], f"{name}: pyproject says >={lower[0]}, make test-floor installs {pins.get(name)}"
        assert pins[name] in req.specifier, f"{name}: the floor pin is outside the declared range"


def test_the_ci_runs_the_floor_after_the_suite():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
             if line.strip().startswith("make ")]
    assert "make test" in steps and "make test-floor" in steps, steps
    assert steps.index("make test") < steps.index("make test-floor")
