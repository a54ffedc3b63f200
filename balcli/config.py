"""Where settings come from, and in what order (SPEC §3).

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
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from balcli.errors import ConfigError

EXCHANGES = ("zoomex", "coinw", "binance", "cryptofuse")
FORMATS = ("table", "json", "ndjson", "csv", "tsv")

DEFAULT_BASE_URLS = {
    "zoomex": "https://openapi.zoomex.com",
    "coinw": "https://api.coinw.com",
    "binance": "https://api.binance.com",
    "cryptofuse": "https://api.cryptofuse.io",
}
ZOOMEX_TESTNET_URL = "https://openapi-testnet.zoomex.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_RECV_WINDOW = 5000
DEFAULT_COINW_TIMEZONE = "+08:00"
TIMEOUT_RANGE = (0.1, 600.0)  # seconds, as --timeout accepts
RATE_LIMIT_RANGE = (0.01, 1000.0)  # requests per second: one every 100 s at most, and never unthrottled

# Keys allowed in each exchange section of a profile, with their validators (see _check_value).
EXCHANGE_KEYS: dict[str, tuple[str, ...]] = {
    "zoomex": ("base_url", "testnet_base_url", "recv_window", "rate_limit"),
    "coinw": ("base_url", "rate_limit", "timezone"),
    "binance": ("base_url", "recv_window", "rate_limit"),
    "cryptofuse": ("base_url", "rate_limit"),
}
DEFAULTS_KEYS = ("timeout", "max_retries", "format")
TOP_KEYS = ("default_profile", "defaults", "profiles", "credentials_file")

_TZ_RE = re.compile(r"^(?:Z|UTC|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$")


def user_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "balcli"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "balcli"
    if os.name == "nt" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "balcli"
    return Path.home() / ".config" / "balcli"


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
                new = new._replace(**{name: Setting(value, "flag")})
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
        ]
        for ex, section in self.exchanges.items():
            for key, s in section.items():
                out.append((f"{ex}.{key}", "" if s.value is None else str(s.value), s.origin))
        return out


# -- reading the file ------------------------------------------------------------------------------

class _Raw(NamedTuple):
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]  # key path -> 1-based line, for error messages


def _compose(path: Path, text: str) -> _Raw:
    import yaml  # only when a config file exists

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where.strip()}: {problem}", "fix the YAML syntax; `balcli config init` "
                          "writes a commented example") from None
    lines: dict[tuple[str, ...], int] = {}

    def walk(n: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = prefix + (str(k.value),)
                lines[key] = k.start_mark.line + 1
                walk(v, key)

    walk(node, ())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config file must be a mapping of keys", "see config.example.yaml")
    return _Raw(data, lines)


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


def _check_value(path: Path, raw: _Raw, keypath: tuple[str, ...], value: Any) -> Any:
    key = keypath[-1]
    bad = None
    if key in ("base_url", "testnet_base_url"):
        try:
            value = check_url(value) if isinstance(value, str) else check_url("")
        except ValueError as exc:
            bad = f"must be an http(s) URL with a host; this one {exc}"
    elif key in ("timeout", "rate_limit"):
        low, high = TIMEOUT_RANGE if key == "timeout" else RATE_LIMIT_RANGE
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:  # float-ok
            bad = f"must be a number from {low:g} to {high:g}"  # NaN and infinities fail the comparison too
    elif key in ("max_retries",):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
            bad = "must be a whole number from 0 to 20"
    elif key == "recv_window":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60000:
            bad = "must be a whole number of milliseconds from 1 to 60000"
    elif key == "format":
        if value not in FORMATS:
            bad = f"must be one of {', '.join(FORMATS)}"
    elif key == "timezone":
        value = str(value)
        if not _TZ_RE.match(value):
            bad = "must be a UTC offset such as +08:00, -05:00 or Z"
    elif key in ("default_profile", "credentials_file") and (not isinstance(value, str) or not value):
        bad = "must be a non-empty string"
    if bad:
        raise _fail(path, raw, keypath, f"{bad} (got {value!r})", "see config.example.yaml for every key")
    return value


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]]] | None:
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
    for key in ("default_profile", "credentials_file"):
        if key in top:
            result[key] = _check_value(path, raw, (key,), top[key])
    defaults = _check_keys(path, raw, top.get("defaults"), ("defaults",), DEFAULTS_KEYS)
    result["defaults"] = {k: _check_value(path, raw, ("defaults", k), v) for k, v in defaults.items()}
    profiles: dict[str, dict[str, dict[str, Any]]] = {}
    profiles_raw = top.get("profiles") or {}
    if not isinstance(profiles_raw, dict):
        raise _fail(path, raw, ("profiles",), "must be a mapping of profile names", "see config.example.yaml")
    for name, body in profiles_raw.items():
        body = _check_keys(path, raw, body, ("profiles", str(name)), EXCHANGES)
        profile: dict[str, dict[str, Any]] = {}
        for ex, section in body.items():
            keypath = ("profiles", str(name), ex)
            section = _check_keys(path, raw, section, keypath, EXCHANGE_KEYS[ex])
            profile[ex] = {k: _check_value(path, raw, keypath + (k,), v) for k, v in section.items()}
        profiles[str(name)] = profile
    return result, profiles


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

    exchanges: dict[str, dict[str, Setting]] = {}
    for ex in EXCHANGES:
        sec = section.get(ex, {})
        prefix = f"BALCLI_{ex.upper()}_"
        s: dict[str, Setting] = {
            "base_url": pick(prefix + "BASE_URL", sec.get("base_url"), DEFAULT_BASE_URLS[ex], _url),
            "rate_limit": pick(None, sec.get("rate_limit"), None),
        }
        if ex in ("zoomex", "binance"):
            s["recv_window"] = pick(None, sec.get("recv_window"), DEFAULT_RECV_WINDOW)
        if ex == "zoomex":
            s["testnet_base_url"] = pick(None, sec.get("testnet_base_url"), ZOOMEX_TESTNET_URL)
        if ex == "coinw":
            s["timezone"] = pick("BALCLI_COINW_TIMEZONE", sec.get("timezone"), DEFAULT_COINW_TIMEZONE, _tz)
        if sandbox_url:
            s["base_url"] = Setting(sandbox_url, "sandbox")
            if ex == "zoomex":
                s["testnet_base_url"] = Setting(sandbox_url, "sandbox")
        exchanges[ex] = s

    cred_default = user_config_dir(env) / "credentials.yaml"
    creds = (Setting(Path(top["credentials_file"]).expanduser(), "file") if "credentials_file" in top
             else Setting(cred_default, "default"))
    return Settings(
        profile=prof,
        config_path=path,
        config_exists=file is not None,
        credentials_file=creds,
        timeout=pick("BALCLI_TIMEOUT", defaults.get("timeout"), DEFAULT_TIMEOUT, _timeout),
        max_retries=pick("BALCLI_MAX_RETRIES", defaults.get("max_retries"), DEFAULT_MAX_RETRIES, _retries),
        format=pick("BALCLI_FORMAT", defaults.get("format"), None, _format),
        exchanges=exchanges,
        sandbox=bool(sandbox_url),
    )


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


def _url(text: str) -> str:
    return check_url(text)


def _tz(text: str) -> str:
    if not _TZ_RE.match(text):
        raise ValueError(text)
    return text


def _timeout(text: str) -> float:
    value = float(text)  # float-ok: a timeout in seconds, not an amount
    low, high = TIMEOUT_RANGE
    if not low <= value <= high:  # also NaN and infinities
        raise ValueError(f"must be a number of seconds from {low:g} to {high:g}")
    return value


def _retries(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 20:
        raise ValueError(text)
    return value


def _format(text: str) -> str:
    if text not in FORMATS:
        raise ValueError(text)
    return text
