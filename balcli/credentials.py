"""Where secrets come from (README "Credentials"). The only module that imports ``keyring``.

Resolution order for each exchange, first hit wins (``auth status`` shows which one was used):
  1. environment variables (the cron path), see ``ENV_VARS``;
  2. the OS keyring: service ``balcli``, user ``<profile>/<exchange>``, value a JSON object of the fields;
  3. the credentials file (``<config dir>/credentials.yaml`` or ``credentials_file``), which must be mode 0600:
     ``{profile: {exchange: {field: value}}}``.

``keyring`` is imported only when the environment does not already hold the credentials and a backend may
exist (``keyring_cannot_exist``: importing it costs more than half of ``import requests``), a keyring without
a usable backend (headless Linux, cron, SSH) is skipped without noise, and a keyring call is bounded in time
so that a locked or hanging backend can never stall a run.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from balcli.errors import ConfigError
from balcli.exchanges import EXCHANGES, SECRET_FIELDS

SERVICE = "balcli"
KEYRING_TIMEOUT = 3.0  # seconds; a keyring call that takes longer is abandoned and skipped

# The field sets each exchange accepts (in prompt order), which fields are secret, and their env variables.
FIELD_SETS: dict[str, tuple[tuple[str, ...], ...]] = {e.name: e.field_sets for e in EXCHANGES.values()}
ENV_VARS: dict[str, dict[str, str]] = {e.name: e.env_vars() for e in EXCHANGES.values()}

Note = Callable[[str], None]


class Credentials(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    exchange: str
    fields: Mapping[str, str]
    source: str  # "env" | "keyring" | "file" | "sandbox"
    location: str

    def __repr__(self) -> str:  # never show a secret, not even in a traceback or a debugger
        return f"Credentials({self.exchange!r}, source={self.source!r}, key={self.masked_key()!r})"

    def __str__(self) -> str:  # (not `__str__ = __repr__`: a NamedTuple body may only hold fields and methods)
        return self.__repr__()

    @property
    def public_id(self) -> str:
        return self.fields.get("api_key") or self.fields.get("client_id") or "(bearer token)"

    def masked_key(self) -> str:
        return mask(self.public_id) if "token" not in self.fields else mask(self.fields["token"])

    def secrets(self) -> list[str]:
        return [v for k, v in self.fields.items() if v and (k in SECRET_FIELDS or k == "api_key")]


def mask(value: str) -> str:
    """``abcd…wxyz``; short values are hidden entirely. ``abcd...wxyz`` where stdout or stderr cannot encode
    ``…`` (an ASCII locale), so that a table measures the key at the width it is shown."""
    dots = "…" if _shows_ellipsis() else "..."
    if len(value) < 12:
        return dots * 3
    return f"{value[:4]}{dots}{value[-4:]}"


def _shows_ellipsis() -> bool:
    for stream in (sys.stdout, sys.stderr):
        try:
            "…".encode(getattr(stream, "encoding", None) or "utf-8")
        except (UnicodeError, LookupError):
            return False
    return True


def value_problem(value: str) -> str | None:
    """Why a credential value cannot be used, or None. Keys and tokens travel in HTTP headers (latin-1 only)
    and in signed strings: a pasted line break, a space or a typographic character (``…``) would fail there
    as a network error or a crash, so every source (prompt, stdin, env, keyring, file) is held to this rule."""
    if any(c.isspace() or not c.isprintable() for c in value):
        return "contains spaces or control characters"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "contains a character that cannot be sent in an HTTP header (such as a pasted '…')"
    return None


def _complete(exchange: str, fields: Mapping[str, Any], name: Callable[[str], str] | None = None,
              hint: str = "") -> dict[str, str] | None:
    """The first complete field set, checked with ``value_problem``: a bad value is a ConfigError that says
    ``name(field)`` (the variable, keyring entry or file key) and never the value."""
    for field_set in FIELD_SETS[exchange]:
        if all(isinstance(fields.get(f), str) and fields.get(f) for f in field_set):
            found = {f: fields[f] for f in field_set}
            for f, value in found.items():
                problem = value_problem(value)
                if problem:
                    where = name(f) if name else f"the {exchange} {f}"
                    raise ConfigError(f"{where} {problem}",
                                      hint or "check for a pasted line break or a wrong field")
            return found
    return None


def env_vars_hint(exchange: str) -> str:
    sets = [" + ".join(ENV_VARS[exchange][f] for f in fs) for fs in FIELD_SETS[exchange]]
    return " or ".join(sets)


# -- 1. environment --------------------------------------------------------------------------------

def from_env(exchange: str, env: Mapping[str, str] = os.environ) -> Credentials | None:
    present = {f: env[v] for f, v in ENV_VARS[exchange].items() if env.get(v)}
    if not present:
        return None
    fields = _complete(exchange, present, lambda f: ENV_VARS[exchange][f],
                       "set it again without the stray character (a pasted line break?), or unset it")
    if fields is None:
        missing = [ENV_VARS[exchange][f] for fs in FIELD_SETS[exchange] for f in fs
                   if f not in present and any(g in present for g in fs)]
        raise ConfigError(
            f"{exchange} credentials in the environment are incomplete: {', '.join(missing)} is not set",
            f"set {env_vars_hint(exchange)}, or unset them to use the keyring or credentials file")
    return Credentials(exchange, fields, "env", "environment")


# -- 2. keyring --------------------------------------------------------------------------------------

_unresponsive: list[str] = []  # what the keyring was doing when it stopped answering (once per process)


def _bounded(call: Callable[[], Any], note: Note | None, what: str) -> tuple[bool, Any]:
    """Run a keyring call with a time limit; (ok, result). Exceptions and time-outs are skipped, noted under -v.
    After one time-out the keyring counts as unusable for the rest of the process: a locked keyring would
    otherwise cost the full wait again for every exchange (``auth status``: four times)."""
    if _unresponsive:
        if note:
            note(f"keyring skipped while {what}: it did not answer while {_unresponsive[0]}")
        return False, None
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except Exception as exc:  # noqa: BLE001 - any backend failure means "no keyring here"
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="balcli-keyring")
    thread.start()
    thread.join(KEYRING_TIMEOUT)
    if thread.is_alive():
        _unresponsive.append(what)
        if note:
            note(f"keyring did not answer within {KEYRING_TIMEOUT:.0f} s while {what}; skipped")
        return False, None
    if "error" in box:
        if note:
            note(f"keyring unavailable while {what} ({type(box['error']).__name__}); skipped")
        return False, None
    return True, box.get("result")


def keyring_cannot_exist(env: Mapping[str, str] = os.environ) -> bool:
    """True when keyring surely has no backend here, known without importing it (it costs more than half of
    ``import requests``, most of it looking for backends).

    That is Linux with no D-Bus session bus in sight (every Linux backend keyring ships talks D-Bus: Secret
    Service, KWallet, libsecret), no backend chosen by ``PYTHON_KEYRING_BACKEND`` or keyring's
    ``keyringrc.cfg``, and no other installed package offering a backend (a ``keyring.backends`` entry
    point, such as keyrings.alt's). The headless server, cron and SSH case; anything else gets keyring's own
    answer. Once keyring is imported (a test installs a backend in-process) its own answer is cheap and final.
    """
    if "keyring" in sys.modules or not sys.platform.startswith("linux") or env.get("PYTHON_KEYRING_BACKEND"):
        return False
    if env.get("DBUS_SESSION_BUS_ADDRESS") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return False  # a bus, or one libdbus could autolaunch for an X session
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    if os.path.exists(os.path.join(runtime, "bus")) or os.path.exists(
            os.path.join(config_home, "python_keyring", "keyringrc.cfg")):
        return False
    return not _other_keyring_backends()


def _other_keyring_backends() -> bool:
    """Whether a package other than keyring declares a ``keyring.backends`` entry point (read the way
    importlib.metadata finds them, without its cost); a path entry that cannot be listed counts as one."""
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                names = [e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))]
        except FileNotFoundError:
            continue
        except OSError:
            return True  # a zip or an unreadable folder: let keyring look
        for name in names:
            if name.lower().startswith("keyring-"):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                    if "[keyring.backends]" in f.read():
                        return True
            except FileNotFoundError:
                continue
            except (OSError, UnicodeError):
                return True
    return False


def keyring_backend_usable() -> bool:
    """False when keyring has no real backend (the ``fail``/``null`` ones, or a chainer with nothing in it)."""
    if keyring_cannot_exist():
        return False
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - a broken keyring install is no keyring, never a crash
        return False
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    name = type(backend).__module__ + "." + type(backend).__name__
    if name.startswith("keyring.backends.null."):
        return False
    return not (name.startswith("keyring.backends.chainer.") and not getattr(backend, "backends", None))


def keyring_user(profile: str, exchange: str) -> str:
    return f"{profile}/{exchange}"


def from_keyring(exchange: str, profile: str, note: Note | None = None) -> Credentials | None:
    ok, usable = _bounded(keyring_backend_usable, note, "looking for a backend")
    if not ok or not usable:
        return None
    import keyring

    user = keyring_user(profile, exchange)
    ok, raw = _bounded(lambda: keyring.get_password(SERVICE, user), note, f"reading {user}")
    if not ok or not raw:
        return None
    try:
        entry = json.loads(raw)
    except (ValueError, TypeError):
        entry = None
    fields = _complete(exchange, entry, lambda f: f"the keyring entry {SERVICE}/{user}: {f}",
                       f"store it again with `balcli auth set {exchange}`") if isinstance(entry, dict) else None
    if fields is None:
        raise ConfigError(f"the keyring entry {SERVICE}/{user} is not a valid {exchange} credential",
                          f"store it again with `balcli auth set {exchange}`")
    return Credentials(exchange, fields, "keyring", f"keyring {SERVICE}/{user}")


# -- 3. credentials file -----------------------------------------------------------------------------

def check_private(path: Path) -> None:
    """Refuse a secrets file that group or others can read or write."""
    mode = path.stat().st_mode
    if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}); refusing to use it",
            f"chmod 600 {path}")


def read_file(path: Path) -> dict[str, Any]:
    """The whole credentials file (``{profile: {exchange: fields}}``), after the permission check."""
    try:
        check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror}",
                          "check its owner and permissions (chmod 600)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"credentials file {path} is not UTF-8 text",
                          "fix it or remove it and run `balcli auth set ... --store file` again") from None
    simple = simple_mapping(text)
    if simple is not None:
        return simple
    import yaml

    from balcli.config import refuse_aliases

    try:
        refuse_aliases(text)
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml: faster
    except ValueError as exc:
        raise ConfigError(f"credentials file {path}: {exc}", "write each value out in full") from None
    except yaml.YAMLError:
        raise ConfigError(f"credentials file {path} is not valid YAML",
                          "fix it or remove it and run `balcli auth set`") from None
    if not isinstance(data, dict):
        raise ConfigError(f"credentials file {path} must map profiles to exchanges",
                          "see the README's Credentials section")
    for profile, section in data.items():
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"credentials file {path}: profile {profile!r} must map exchanges to fields "
                              f"(it is a {type(section).__name__})", "fix it, or remove the profile and run "
                              "`balcli auth set ... --store file` again")
    return data


# What `balcli auth set --store file` writes (yaml.safe_dump, block style): nested "key:" / "key: value" lines,
# two spaces an indent level, with plain or single-quoted scalars. ``simple_mapping`` reads exactly that subset
# without importing yaml (about a sixth of ``import requests``); any other text goes to yaml. A plain scalar is
# taken as a string only where YAML 1.1 could not read it as anything else: a word that is not a boolean or
# null, or one that starts with a digit, sign or dot yet holds a character no number or date can hold.
_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_-]*):(?: (?:([A-Za-z0-9_.+/=-]+)|'((?:[^'\n]|'')*)'))? *")
_NOT_STRINGS = frozenset(["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                          "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "="])
_NUMBER_OR_DATE_CHARS = frozenset("0123456789_.:+-eExXoObBabcdefABCDEFtTzZ")


def _plain_string(value: str) -> bool:
    if value[0] in "-+.0123456789":
        return not set(value) <= _NUMBER_OR_DATE_CHARS
    return value not in _NOT_STRINGS


def simple_mapping(text: str) -> dict[str, Any] | None:
    """``text`` as nested mappings of strings when it is in the subset above, else None (then ask yaml):
    for any text, the result is None or what ``yaml.safe_load(text) or {}`` gives (a property test holds it)."""
    if not text.replace("\n", "").isprintable():
        return None  # tabs, CR, control characters, a BOM: yaml's own rules
    root: dict[str, Any] = {}
    stack: list[dict[str, Any]] = [root]  # the open mapping at each indent level
    opened = False  # the last line was "key:", so the next must be the first key under it
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        m = _KEY_LINE.fullmatch(line)
        if m is None:
            return None
        indent, key, plain, quoted = m.groups()
        depth, odd = divmod(len(indent), 2)
        if odd or depth > len(stack) - 1 or (opened and depth != len(stack) - 1):
            return None
        if key in _NOT_STRINGS or (plain is not None and not _plain_string(plain)):
            return None  # a key YAML reads as a boolean or null, or a value it reads as a number or date
        del stack[depth + 1:]
        parent = stack[depth]
        if key in parent:
            return None  # a duplicate key: yaml's rule (the last wins) is not worth copying here
        if plain is not None or quoted is not None:
            parent[key] = plain if plain is not None else quoted.replace("''", "'")
            opened = False
        else:
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append(child)
            opened = True
    return None if opened else root  # "key:" with nothing under it is null in YAML


def from_file(exchange: str, profile: str, path: Path) -> Credentials | None:
    if not path.exists():
        return None
    section = (read_file(path).get(profile) or {}).get(exchange)
    if not section:
        return None
    fields = _complete(exchange, section if isinstance(section, dict) else {},
                       lambda f: f"{path}: {profile}.{exchange}.{f}",
                       f"store it again with `balcli auth set {exchange} --store file`, or edit {path}")
    if fields is None:
        raise ConfigError(f"{path}: {profile}.{exchange} does not hold a complete {exchange} credential",
                          f"store it again with `balcli auth set {exchange} --store file`")
    return Credentials(exchange, fields, "file", str(path))


# -- resolution --------------------------------------------------------------------------------------

def find(exchange: str, profile: str, credentials_file: Path, *, env: Mapping[str, str] = os.environ,
         note: Note | None = None) -> Credentials | None:
    return (from_env(exchange, env) or from_keyring(exchange, profile, note)
            or from_file(exchange, profile, credentials_file))


def resolve(exchange: str, profile: str, credentials_file: Path, *, env: Mapping[str, str] = os.environ,
            note: Note | None = None) -> Credentials:
    found = find(exchange, profile, credentials_file, env=env, note=note)
    if found is None:
        raise missing_error(exchange, profile)
    return found


def missing_error(exchange: str, profile: str) -> ConfigError:
    return ConfigError(f"no {exchange} credentials found for profile {profile!r}",
                       f"set {env_vars_hint(exchange)} (cron), or run `balcli auth set {exchange}`")


def stderr_note(verbose: int) -> Note | None:
    if verbose <= 0:
        return None
    return lambda text: print(f"balcli: {text}", file=sys.stderr)


# -- private files (credentials store, token cache) ----------------------------------------------------

def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 in a 0700 directory: never readable by others, never half-written; a
    failed write leaves the previous file as it was (``balcli.files``). ConfigError (exit 3) on failure."""
    from balcli.files import atomic_write

    try:
        atomic_write(path, text, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", "check that its folder exists, is "
                          "writable and has free space; the previous file was left as it was") from None


class _lock_or_fail:  # used as a context manager
    """The lock for a read-modify-write of a credentials file; ConfigError (exit 3) when it cannot be taken
    (a read-only or missing folder)."""

    def __init__(self, path: Path) -> None:
        from balcli.files import locked

        self._cm = locked(path)
        self._path = path

    def __enter__(self) -> None:
        try:
            self._cm.__enter__()
        except OSError as exc:
            raise ConfigError(f"cannot write {self._path}: {exc.strerror or exc}", "check that its folder "
                              "is writable (or choose another credentials_file in the config)") from None

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


# -- OAuth token cache ----------------------------------------------------------------------------------

def token_cache_path(config_dir: Path, profile: str, exchange: str) -> Path:
    """Where an exchange's fetched OAuth token is cached for a profile (0600, in a 0700 folder)."""
    return config_dir / "cache" / f"{exchange}-token-{profile}.json"


def cached_token(path: Path, client_id: str, now: float) -> str | None:
    """A cached access token for this client id that is still valid for at least a minute, else None."""
    try:
        check_private(path)
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ConfigError):
        return None
    if not isinstance(entry, dict) or entry.get("client_id") != client_id:
        return None
    if not isinstance(entry.get("expires_at"), (int, float)) or entry["expires_at"] - 60 <= now:
        return None
    token = entry.get("access_token")
    return token if isinstance(token, str) and token else None


def store_token(path: Path, client_id: str, access_token: str, expires_at: float) -> None:
    """OSError when it cannot be written (the caller warns: a cache is not worth failing a run for)."""
    from balcli.files import atomic_write

    atomic_write(path, json.dumps({"client_id": client_id, "access_token": access_token,
                                   "expires_at": expires_at}), 0o600)


def forget_token(path: Path) -> None:
    path.unlink(missing_ok=True)


# -- storing and removing (``balcli auth set`` / ``auth remove``) ------------------------------------------

NO_KEYRING_HINT = ("no usable OS keyring here (headless server, cron, SSH). Alternatives: environment variables "
                   "for cron ({env}); `--store file` (a mode-0600 credentials file); or install a keyring "
                   "backend (e.g. `pip install keyrings.alt`, or run a Secret Service such as gnome-keyring)")


def no_keyring_error(exchange: str) -> ConfigError:
    return ConfigError("cannot store in the keyring: no usable keyring backend",
                       NO_KEYRING_HINT.format(env=env_vars_hint(exchange)))


def keyring_available(note: Note | None = None) -> bool:
    ok, usable = _bounded(keyring_backend_usable, note, "looking for a backend")
    return bool(ok and usable)


def complete_fields(exchange: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """The fields of one complete field set, or ValueError naming what is missing."""
    found = _complete(exchange, fields)
    if found is None:
        raise ValueError(f"incomplete {exchange} credential")
    return found


def _keyring_call(call: Callable[[], Any], what: str) -> Any:
    failure: list[str] = []
    ok, result = _bounded(call, failure.append, what)
    if not ok:
        raise ConfigError(f"the keyring failed {what}: {failure[0] if failure else 'unknown error'}",
                          "unlock the keyring and retry, or use `--store file` / environment variables")
    return result


def store_keyring(exchange: str, profile: str, fields: Mapping[str, str]) -> str:
    """Save to the keyring; returns where (``keyring balcli/<profile>/<exchange>``)."""
    if not keyring_available():
        raise no_keyring_error(exchange)
    import keyring

    user = keyring_user(profile, exchange)
    value = json.dumps(complete_fields(exchange, fields), sort_keys=True)
    _keyring_call(lambda: keyring.set_password(SERVICE, user, value), f"while storing {user}")
    return f"keyring {SERVICE}/{user}"


def store_file(exchange: str, profile: str, fields: Mapping[str, str], path: Path) -> str:
    """Save in the credentials file, keeping every other profile's and exchange's entries; returns the path."""
    import yaml

    with _lock_or_fail(path):  # read-modify-write: concurrent `auth set` runs must not lose an entry
        data = read_file(path) if path.exists() else {}
        section = data.get(profile)
        if not isinstance(section, dict):
            section = {}
        section[exchange] = complete_fields(exchange, fields)
        data[profile] = section
        header = "# balcli credentials (balcli auth set ... --store file). Keep this file mode 0600.\n"
        write_private(path, header + yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    return str(path)


def remove_keyring(exchange: str, profile: str) -> str | None:
    """Delete the keyring entry; its location if there was one, None if not (or no usable keyring)."""
    if not keyring_available():
        return None
    import keyring

    user = keyring_user(profile, exchange)
    if not _keyring_call(lambda: keyring.get_password(SERVICE, user), f"while reading {user}"):
        return None
    _keyring_call(lambda: keyring.delete_password(SERVICE, user), f"while removing {user}")
    return f"keyring {SERVICE}/{user}"


def remove_file(exchange: str, profile: str, path: Path) -> str | None:
    """Delete the file entry (and an emptied profile); the path if there was an entry, None if not."""
    if not path.exists():
        return None
    import yaml

    with _lock_or_fail(path):
        data = read_file(path)
        section = data.get(profile)
        if not isinstance(section, dict) or exchange not in section:
            return None
        del section[exchange]
        if not section:
            del data[profile]
        header = "# balcli credentials (balcli auth set ... --store file). Keep this file mode 0600.\n"
        write_private(path, header + (yaml.safe_dump(data, sort_keys=True, default_flow_style=False)
                                      if data else ""))
    return str(path)


def env_names_set(exchange: str, env: Mapping[str, str] = os.environ) -> list[str]:
    """The credential environment variables of an exchange that are set (they win over any store)."""
    return [v for v in ENV_VARS[exchange].values() if env.get(v)]
