"""The exchange registry is complete: every exchange it lists has its code, its sandbox, its docs and its keys.

This is the checklist of ``docs/adding-a-source.md``, enforced: a sixth exchange added to ``balcli.exchanges``
without its command, sandbox API, README section, config.example.yaml keys, completions or wire notes fails here.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import yaml

from balcli import exchanges
from balcli.app import COMMANDS
from balcli.http import Api
from balcli.sandbox import DEMO_CREDENTIALS
from tests.test_completions import bash_complete, needs_bash

ROOT = Path(__file__).resolve().parent.parent
ALL = list(exchanges.EXCHANGES.values())
IDS = [e.name for e in ALL]


@pytest.mark.parametrize("exchange", ALL, ids=IDS)
def test_every_reference_resolves_to_code_of_the_right_kind(exchange):
    for ref in exchange.apis:
        api = exchanges.load(ref)
        assert inspect.isclass(api) and issubclass(api, Api), ref
        assert api.check is not Api.check and api.prepare is not Api.prepare, f"{ref} must sign and check"
    probe = exchanges.load(exchange.probe)
    assert list(inspect.signature(probe).parameters) == ["link"], exchange.probe
    if exchange.server_time:
        assert list(inspect.signature(exchanges.load(exchange.server_time)).parameters) == ["client", "base_url"]
    for module in exchange.sandbox:
        assert importlib.import_module(module).__name__ == module


@pytest.mark.parametrize("exchange", ALL, ids=IDS)
def test_every_exchange_has_its_commands_registered(exchange):
    assert exchange.commands
    for command in exchange.commands:
        assert COMMANDS[command] == command
        assert callable(importlib.import_module(f"balcli.commands.{command}").register)
        assert exchanges.by_command(command) is exchange


@pytest.mark.parametrize("exchange", ALL, ids=IDS)
def test_every_exchange_is_documented(exchange):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in exchange.commands:
        assert re.search(rf"^### `balcli {command}\b", readme, re.M), f"README has no section for {command}"
    for variable in exchange.env_vars().values():
        assert variable in readme, f"README does not name {variable}"
    assert (ROOT / exchange.docs).is_file(), f"{exchange.docs} is missing"
    assert exchange.label in (ROOT / exchange.docs).read_text(encoding="utf-8")


@pytest.mark.parametrize("exchange", ALL, ids=IDS)
def test_every_config_key_is_in_the_example_file_with_its_default(exchange):
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    uncommented = yaml.safe_load(re.sub(r"^(\s*)#(\w+:)", r"\1\2", text, flags=re.M))
    section = uncommented["profiles"]
    found = {key for profile in section.values() for key in (profile or {}).get(exchange.name) or {}}
    assert {o.name for o in exchange.keys} <= found, f"config.example.yaml lacks {exchange.name} keys"


@needs_bash
def test_every_exchange_and_source_command_completes_in_bash():
    assert set(bash_complete("balcli auth set ")) == set(exchanges.NAMES)
    assert set(bash_complete("balcli ")) >= set(exchanges.SOURCE_COMMANDS)


@pytest.mark.parametrize("exchange", ALL, ids=IDS)
def test_every_exchange_has_sandbox_demo_credentials(exchange):
    demo = DEMO_CREDENTIALS[exchange.name]
    assert tuple(demo) in exchange.field_sets, "the sandbox's demo credentials use one of the field sets"


def test_names_and_commands_are_unique_and_the_lookup_fails_loudly():
    commands = [c for e in ALL for c in e.commands]
    assert len(commands) == len(set(commands)) == len(exchanges.SOURCE_COMMANDS)
    assert len({e.env_var("api_key") for e in ALL}) == len(ALL)
    with pytest.raises(KeyError):
        exchanges.by_command("nope")
