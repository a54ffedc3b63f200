"""Where settings come from, and in what order (README "Configuration").

Precedence for every setting, first hit wins:
  1. the command-line flag (``--base-url``, ``--timeout``, ``--max-retries``, ``--format``, ``--tz``);
  2. the environment (``BALCLI_FORMAT``, ``BALCLI_TIMEOUT``, ``BALCLI_MAX_RETRIES``, ``BALCLI_<EXCHANGE>_BASE_URL``,
     ``BALCLI_COINW_TIMEZONE``);
  3. the config file: the selected profile's exchange section, then the file's ``defaults``;
  4. the built-in default.

The config file is ``--config`` > ``BALCLI_CONFIG`` > ``<user config dir>/balcli/config.yaml``; the user config
dir is ``$XDG_CONFIG_HOME`` or ``~/.config`` (``~/Library/Application Support`` on macOS, ``%APPDATA%`` on
Windows). A missing default file is fine; a missing file named explicitly is an error. The profile is
``--profile`` > ``BALCLI_PROFILE`` > the file's ``default_profile`` > ``default``.

The file is YAML, safe-loaded (and only imported when a file exists: yaml costs start-up time). Unknown keys
and bad values are errors that name the file, the key and the line. Secrets never go in this file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from balcli import dirs, options
from balcli.errors import ConfigError
from balcli.exchanges import EXCHANGES, Exchange

DEFAULTS_KEYS = tuple(o.name for o in options.DEFAULTS)
TOP_KEYS = ("default_profile", "defaults", "profiles", "credentials_file", "summary", "history_db")
SUMMARY_KEYS = ("snapshot_types",)
SNAPSHOT_TYPES = ("spot", "margin", "futures")  # what `summary: {snapshot_types: [...]}` may list
DEFAULT_SNAPSHOT_TYPES = ("spot",)
PROFILE_KEYS = (*EXCHANGES, "checks")  # a profile: its exchanges' sections and its `balcli check` rules
_TOP_OPTIONS = {o.name: o for o in options.DEFAULTS}



def user_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    return dirs.user_dir("config", env)


def user_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where balcli keeps data it made (the history of ``--record``): ``$XDG_DATA_HOME/balcli`` or
    ``~/.local/share/balcli`` (``~/Library/Application Support/balcli`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    return dirs.user_dir("data", env)


class Setting(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    value: Any
    origin: str  # "flag" | "env" | "file" | "default" | "sandbox"


class Settings(NamedTuple):
    """The effective settings of one run: every value with where it came from."""

    profile: Setting
    config_path: Path
    config_exists: bool
    credentials_file: Setting
    timeout: Setting
    max_retries: Setting
    format: Setting
    exchanges: Mapping[str, Mapping[str, Setting]] = MappingProxyType({})
    sandbox: bool = False
    snapshot_types: tuple[str, ...] = DEFAULT_SNAPSHOT_TYPES  # summary: {snapshot_types: [...]}
    checks: tuple[tuple[str, str], ...] = ()  # the profile's `checks:` as (name, rule text), in file order
    history_db: Setting = Setting(None, "default")  # the --record history file (balcli.history)

    def exchange(self, name: str, key: str) -> Any:
        return self.exchanges[name][key].value

    def override(self, **flags: Any) -> Settings:
        """Apply command-line flags (None means "not given"); exchange keys as ``<exchange>__<key>``."""
        new = self
        for name, value in flags.items():
            if value is None:
                continue
            if "__" in name:
                ex, key = name.split("__", 1)
                section = dict(new.exchanges[ex])
                section[key] = Setting(value, "flag")
                exchanges = dict(new.exchanges)
                exchanges[ex] = section
                new = new._replace(exchanges=exchanges)
            else:
                # a flag name is one of the Setting-valued fields (profile, timeout, format…)
                new = new._replace(**{name: Setting(value, "flag")})  # type: ignore[arg-type]
        return new

    def rows(self) -> list[tuple[str, str, str]]:
        """(key, value, origin) for ``balcli config show``; never secrets (there are none in Settings)."""
        out = [
            ("profile", str(self.profile.value), self.profile.origin),
            ("config_file", f"{self.config_path}{'' if self.config_exists else ' (not present)'}", "-"),
            ("credentials_file", str(self.credentials_file.value), self.credentials_file.origin),
            ("timeout", str(self.timeout.value), self.timeout.origin),
            ("max_retries", str(self.max_retries.value), self.max_retries.origin),
            ("format", str(self.format.value or "table on a terminal, tsv otherwise"), self.format.origin),
            ("history_db", str(self.history_db.value), self.history_db.origin),
        ]
        for ex, section in self.exchanges.items():
            for key, s in section.items():
                out.append((f"{ex}.{key}", "" if s.value is None else str(s.value), s.origin))
        out.append(("summary.snapshot_types", ",".join(self.snapshot_types),
                    "default" if self.snapshot_types == DEFAULT_SNAPSHOT_TYPES else "file"))
        out.append(("checks", "; ".join(f"{name}: {rule}" for name, rule in self.checks),
                    "file" if self.checks else "default"))
        return out


# -- reading the file ------------------------------------------------------------------------------

class _Raw(NamedTuple):
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]  # key path -> 1-based line, for error messages
    # key path -> the value as written (before YAML typed it)
    scalars: Mapping[tuple[str, ...], str] = MappingProxyType({})


def refuse_aliases(text: str) -> None:
    """ValueError naming the line of the first YAML anchor or alias: balcli's files never need them, and a
    few hundred bytes of nested aliases (a "billion laughs" file) expand exponentially before any check.
    Scanning the events is linear in the text; nothing is expanded."""
    import yaml

    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise ValueError(f"line {line}: YAML anchors and aliases (&name, *name) are "
                             "not allowed")


def _compose(path: Path, text: str) -> _Raw:
    """The file's data and the line of every key. A text parsed before comes from the cache folder (JSON: no
    yaml import, which costs about a sixth of ``import requests`` at start-up); anything else is parsed with
    libyaml when PyYAML has it."""
    cached = _cached(text)
    if cached is not None:
        return cached
    import yaml  # only when a config file exists and its text is not in the cache

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        try:
            refuse_aliases(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}", "write each value out in full (no &anchors or *aliases)") from None
        node = loader.get_single_node()  # one parse gives both the nodes (lines) and the data
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)  # FILE:LINE, as every other
        problem = getattr(exc, "problem", None) or "invalid YAML"  # config error gives it
        raise ConfigError(f"{where}: {problem}", "fix the YAML syntax; `balcli config init` "
                          "writes a commented example") from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    scalars: dict[tuple[str, ...], str] = {}

    def walk(n: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = prefix + (str(k.value),)
                lines[key] = k.start_mark.line + 1
                if isinstance(v, yaml.ScalarNode) and not v.style:
                    scalars[key] = v.value
                walk(v, key)

    walk(node, ())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config file must be a mapping of keys", "see config.example.yaml")
    raw = _Raw(data, lines, scalars)
    _store(text, raw)
    return raw


# The parsed text of the last config file read, in the cache folder (balcli.cache): the config holds no secret
# (README "Configuration"). The entry is used only for the very same text, so an edited file is always parsed
# again; data that JSON cannot give back exactly (dates, non-string keys) is never cached.
CACHE_FILE = "config.json"
_CACHE_FORMAT = 2


def _cached(text: str) -> _Raw | None:
    from balcli import cache

    entry = cache.read_text(CACHE_FILE)
    if entry is None:
        return None
    import json

    try:
        saved = json.loads(entry)
        if saved["format"] != _CACHE_FORMAT or saved["text"] != text or not isinstance(saved["data"], dict):
            return None
        return _Raw(saved["data"], {tuple(keypath): line for *keypath, line in saved["lines"]},
                    {tuple(keypath): value for *keypath, value in saved["scalars"]})
    except (ValueError, KeyError, TypeError):
        return None


def _json_exact(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    if kind is list:
        return all(_json_exact(v) for v in value)
    if kind is float:  # a timeout, say (amounts never come from here); JSON has no inf or nan
        return value - value == 0
    return kind in (str, int, bool, type(None))


def _store(text: str, raw: _Raw) -> None:
    if not _json_exact(raw.data):
        return
    import json

    from balcli import cache

    lines = [[*keypath, line] for keypath, line in raw.lines.items()]
    scalars = [[*keypath, value] for keypath, value in raw.scalars.items()]
    cache.write_text(CACHE_FILE, json.dumps({"format": _CACHE_FORMAT, "text": text, "data": raw.data,
                                             "lines": lines, "scalars": scalars}))


def _fail(path: Path, raw: _Raw, keypath: tuple[str, ...], problem: str, hint: str) -> ConfigError:
    line = raw.lines.get(keypath)
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {'.'.join(keypath)}: {problem}", hint)


def _check_keys(path: Path, raw: _Raw, mapping: Any, prefix: tuple[str, ...], allowed: tuple[str, ...]) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise _fail(path, raw, prefix, "must be a mapping", "see config.example.yaml")
    for key in mapping:
        if str(key) not in allowed:
            raise _fail(path, raw, prefix + (str(key),), "unknown key",
                        f"valid keys here: {', '.join(allowed)}")
    return mapping


def _check_value(path: Path, raw: _Raw, keypath: tuple[str, ...], value: Any,
                 option: options.Option | None = None) -> Any:
    """The value of a key, checked against its option's rule (``options``); a bad one names file, key and line."""
    if option is None:  # a top-level key
        if keypath[-1] in _TOP_OPTIONS:
            option = _TOP_OPTIONS[keypath[-1]]
        elif not isinstance(value, str) or not value:
            raise _fail(path, raw, keypath, f"must be a non-empty string (got {value!r})",
                        "see config.example.yaml for every key")
        else:
            return value
    try:
        return option.check(value)
    except ValueError as exc:
        written = raw.scalars.get(keypath)
        if written is not None and ":" in written and isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 10:00 as a base-60 number (600): say so, and how to write it.
            raise _fail(path, raw, keypath, f"{exc}: YAML read the unquoted {written} as the number {value} "
                        "(base 60)", f'quote it: {keypath[-1]}: "{written}"') from None
        raise _fail(path, raw, keypath, f"{exc} (got {value!r})", "see config.example.yaml for every key") from None


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """Top-level settings and ``profiles`` from the file, validated; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}",
                          "check the path and its permissions") from None
    raw = _compose(path, text)
    top = _check_keys(path, raw, raw.data, (), TOP_KEYS)
    result: dict[str, Any] = {}
    for key in ("default_profile", "credentials_file", "history_db"):
        if key in top:
            result[key] = _check_value(path, raw, (key,), top[key])
    if "summary" in top:
        result["snapshot_types"] = _snapshot_types(path, raw, top["summary"])
    defaults = _check_keys(path, raw, top.get("defaults"), ("defaults",), DEFAULTS_KEYS)
    result["defaults"] = {k: _check_value(path, raw, ("defaults", k), v) for k, v in defaults.items()}
    profiles: dict[str, dict[str, Any]] = {}
    profiles_raw = top.get("profiles") or {}
    if not isinstance(profiles_raw, dict):
        raise _fail(path, raw, ("profiles",), "must be a mapping of profile names", "see config.example.yaml")
    for name, body in profiles_raw.items():
        body = dict(_check_keys(path, raw, body, ("profiles", str(name)), PROFILE_KEYS))
        profile: dict[str, Any] = {}
        if "checks" in body:
            profile["checks"] = _checks(path, raw, ("profiles", str(name), "checks"), body.pop("checks"))
        for ex, section in body.items():
            keypath = ("profiles", str(name), ex)
            exchange = EXCHANGES[ex]
            section = _check_keys(path, raw, section, keypath, tuple(o.name for o in exchange.keys))
            profile[ex] = {k: _check_value(path, raw, keypath + (k,), v, exchange.key(k)) for k, v in section.items()}
        profiles[str(name)] = profile
    return result, profiles


def _snapshot_types(path: Path, raw: _Raw, value: Any) -> tuple[str, ...]:
    summary = _check_keys(path, raw, value, ("summary",), SUMMARY_KEYS)
    types = summary.get("snapshot_types", list(DEFAULT_SNAPSHOT_TYPES))
    keypath = ("summary", "snapshot_types")
    if (not isinstance(types, list) or not types or any(t not in SNAPSHOT_TYPES for t in types)
            or len(set(types)) != len(types)):
        raise _fail(path, raw, keypath, f"must be a list of distinct snapshot types from {', '.join(SNAPSHOT_TYPES)} "
                    f"(got {types!r})", "e.g. summary: {snapshot_types: [spot, futures]}")
    return tuple(types)


def _checks(path: Path, raw: _Raw, keypath: tuple[str, ...], value: Any) -> tuple[tuple[str, str], ...]:
    """``checks: [{name: low-usdt, rule: 'spot:USDT>=500'}]``: the shape is checked here (exit 3); the rule's
    grammar by ``balcli check`` (exit 2, naming the rule), so a bad rule never stops another command."""
    hint = "e.g. checks: [{name: low-usdt, rule: 'spot:USDT>=500'}]"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(path, raw, keypath, "must be a list of {name, rule} entries", hint)
    found: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(map(str, item)) != {"name", "rule"} or not all(
                isinstance(item[k], str) and item[k].strip() for k in ("name", "rule")):
            raise _fail(path, raw, keypath, f"entry {i + 1} must have exactly a non-empty `name` and `rule` "
                        f"(got {item!r})", hint)
        if any(item["name"].strip() == name for name, _ in found):
            raise _fail(path, raw, keypath, f"entry {i + 1}: the name {item['name']!r} is used twice",
                        "give each check its own name")
        found.append((item["name"].strip(), item["rule"].strip()))
    return tuple(found)


def config_path(config: str | None = None, env: Mapping[str, str] = os.environ) -> tuple[Path, bool]:
    """The config file's path (``--config`` > ``BALCLI_CONFIG`` > the default), and whether it was named
    explicitly (an explicit file must exist). Nothing is read."""
    explicit = config if config is not None else env.get("BALCLI_CONFIG") or None
    if explicit:
        return Path(explicit).expanduser(), True
    return user_config_dir(env) / "config.yaml", False


def example_text() -> str:
    """The commented starter file (``balcli config init``), shipped in the package as ``config.example.yaml``;
    the copy at the top of the repository is identical (a test holds that)."""
    from importlib.resources import files

    return files("balcli").joinpath("config.example.yaml").read_text(encoding="utf-8")


def profile_names(config: str | None = None, env: Mapping[str, str] = os.environ) -> list[str]:
    """The profiles the config file defines (for completion); [] without a file."""
    path, _ = config_path(config, env)
    file = _read_file(path)
    return sorted(file[1]) if file else []


def load(
    *, config: str | None = None, profile: str | None = None, sandbox_url: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """The effective settings before command-line flags (``Settings.override`` applies those)."""
    path, explicit = config_path(config, env)
    file = _read_file(path)
    if file is None and explicit:
        raise ConfigError(f"config file {path} does not exist",
                          "check --config / BALCLI_CONFIG, or create one with `balcli config init`")
    top, profiles = file if file is not None else ({"defaults": {}}, {})

    if profile:
        prof = Setting(profile, "flag")
    elif env.get("BALCLI_PROFILE"):
        prof = Setting(env["BALCLI_PROFILE"], "env")
    elif "default_profile" in top:
        prof = Setting(top["default_profile"], "file")
    else:
        prof = Setting("default", "default")
    if file is not None and profiles and prof.value not in profiles and prof.origin != "default":
        raise ConfigError(
            f"profile {prof.value!r} is not defined in {path}",
            f"known profiles: {', '.join(sorted(profiles))}; add it under `profiles:` or pick another")
    section = profiles.get(prof.value, {})
    defaults = top["defaults"]

    def pick(env_var: str | None, file_value: Any, default: Any, convert=None) -> Setting:
        if env_var and env.get(env_var):
            text = env[env_var]
            try:
                return Setting(convert(text) if convert else text, "env")
            except ValueError as exc:
                reason = str(exc) if str(exc).startswith("must") else ""
                raise ConfigError(f"{env_var}={text!r} is not valid{': ' + reason if reason else ''}",
                                  f"unset {env_var} or give it a valid value") from None
        if file_value is not None:
            return Setting(file_value, "file")
        return Setting(default, "default")

    checks = section.get("checks", ())
    exchanges = {ex.name: _exchange_settings(ex, section.get(ex.name, {}), pick, sandbox_url)
                 for ex in EXCHANGES.values()}

    cred_default = user_config_dir(env) / "credentials.yaml"
    creds = (Setting(Path(top["credentials_file"]).expanduser(), "file") if "credentials_file" in top
             else Setting(cred_default, "default"))
    history_db = pick("BALCLI_HISTORY_DB", top.get("history_db"), None)
    if history_db.value is None:
        history_db = Setting(user_data_dir(env) / "history.sqlite3", "default")
    else:
        history_db = Setting(Path(history_db.value).expanduser(), history_db.origin)
    return Settings(
        profile=prof,
        config_path=path,
        config_exists=file is not None,
        credentials_file=creds,
        timeout=pick("BALCLI_TIMEOUT", defaults.get("timeout"), options.TIMEOUT.default, options.TIMEOUT.parse),
        max_retries=pick("BALCLI_MAX_RETRIES", defaults.get("max_retries"), options.MAX_RETRIES.default,
                         options.MAX_RETRIES.parse),
        format=pick("BALCLI_FORMAT", defaults.get("format"), None, options.FORMAT.parse),
        exchanges=exchanges,
        sandbox=bool(sandbox_url),
        snapshot_types=top.get("snapshot_types", DEFAULT_SNAPSHOT_TYPES),
        checks=checks,
        history_db=history_db,
    )


def _exchange_settings(exchange: Exchange, section: Mapping[str, Any], pick: Any,
                       sandbox_url: str | None) -> dict[str, Setting]:
    """One exchange's keys (registry order): env (where the key has a variable) > file > default; --sandbox
    points every URL at the sandbox."""
    settings = {}
    for option in exchange.keys:
        env_var = exchange.env_var(option.name) if option.name in exchange.env_keys else None
        settings[option.name] = pick(env_var, section.get(option.name), option.default, option.parse)
        if sandbox_url and option.kind == "url":
            settings[option.name] = Setting(sandbox_url, "sandbox")
    return settings


def check_url(text: str) -> str:
    """A base URL without its trailing slash, or ValueError saying what is wrong with it. The one URL rule
    for ``--base-url``, ``BALCLI_<EXCHANGE>_BASE_URL`` and the config file: a URL that ``requests`` cannot
    send to must stop the run before any request, not be retried as a network failure."""
    from urllib.parse import urlsplit

    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("contains spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError when not a number from 0 to 65535
    except ValueError:
        raise ValueError("has an invalid host or port") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("has port 0")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not have a query or fragment")
    return text.rstrip("/")
