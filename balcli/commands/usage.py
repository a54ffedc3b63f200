"""The command line's own conventions on top of the parser (README "Commands", "Exit codes"):

- global options anywhere: ``balcli broker --sandbox -p main`` = ``balcli --sandbox -p main broker`` (``hoist``);
- parser errors in balcli's two-line form, ``balcli: error: …`` + ``hint: …`` (``translate``);
- one help style: upper-case metavars, each default, range and environment variable stated once (``tidy``).

Plain functions over the click tree that Typer builds; imported by ``balcli.app`` only to run a command line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from typer import core as click_core  # TyperOption, TyperArgument, TyperGroup

from balcli._typer_compat import click_exceptions, click_types
from balcli.errors import UsageError
from balcli.options import FORMATS, formats_of

# The root options that are global: accepted before or after the command. Those that take a value:
GLOBAL_VALUE_OPTIONS = frozenset({"--profile", "-p", "--config"})
GLOBAL_FLAG_OPTIONS = frozenset({"--sandbox", "--verbose", "-v", "--debug"})


def _is_global(arg: str) -> bool:
    if arg in GLOBAL_VALUE_OPTIONS or arg in GLOBAL_FLAG_OPTIONS:
        return True
    if arg.startswith(("--profile=", "--config=", "--sandbox=", "--verbose=", "--debug=")):
        return True
    if len(arg) > 2 and arg.startswith("-p") and arg[2] != "-":
        return True  # -pNAME
    return len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) == {"v"}  # -v, -vv


def _takes_value(command: Any, arg: str) -> bool:
    """Whether ``arg`` is one of ``command``'s options that consumes the next argument as its value."""
    if arg.startswith("--") and "=" in arg:
        return False
    for param in getattr(command, "params", ()):
        if isinstance(param, click_core.TyperOption) and arg in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return False


def hoist(root: Any, args: list[str]) -> list[str]:
    """``args`` with every global option given after the command moved in front of the command name, where
    the root parser reads it (later ones still win: they go after the ones already there). Values of the
    command's own options are never taken for globals (``--coin -v`` keeps ``-v`` as the coin); ``--`` ends it."""
    out: list[str] = []
    hoisted: list[str] = []
    command_at: int | None = None
    current: Any = root
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if command_at is None:  # still among the root options: the root parser reads them in place
            out.append(arg)
            if arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
            elif not arg.startswith("-"):
                command_at = len(out) - 1
                current = _subcommand(current, arg)
                if current is None:
                    out.extend(args[i + 1:])
                    break
        elif _is_global(arg):
            if arg in GLOBAL_VALUE_OPTIONS:
                if i + 1 >= len(args):
                    raise UsageError(f"option '{arg}' requires an argument",
                                     f"give it a value: {arg} NAME (see `balcli --help`)")
                hoisted += [arg, args[i + 1]]
                i += 1
            else:
                hoisted.append(arg)
        elif arg.startswith("-"):
            out.append(arg)
            if _takes_value(current, arg) and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        else:
            out.append(arg)
            if isinstance(current, click_core.TyperGroup):
                sub = _subcommand(current, arg)
                if sub is None:
                    out.extend(args[i + 1:])
                    break
                current = sub
        i += 1
    if not hoisted or command_at is None:
        return out
    return out[:command_at] + hoisted + out[command_at:]


def command_path(root: Any, args: list[str]) -> str:
    """``balcli oauth history`` for a line that runs it (as far as the names are known)."""
    words, current = ["balcli"], root
    i = 0
    while i < len(args) and args[i] != "--":
        arg = args[i]
        if arg in GLOBAL_VALUE_OPTIONS or _takes_value(current, arg):
            i += 2
            continue
        if not arg.startswith("-"):
            sub = _subcommand(current, arg)
            if sub is None:
                break
            words.append(arg)
            current = sub
        i += 1
    return " ".join(words)


def _subcommand(group: Any, name: str) -> Any:
    commands = getattr(group, "commands", None)
    return commands.get(name) if commands is not None else None


# -- parser errors in balcli's form ---------------------------------------------------------------------

def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def _values(param_type: Any, command: str | None = None) -> list[str] | None:
    """The values of a choice, as ``command`` takes them (-o prometheus only where it is written)."""
    choices = getattr(param_type, "choices", None)
    if choices is None:
        return None
    values = [str(getattr(c, "value", c)) for c in choices]
    if set(values) == set(FORMATS):
        return list(formats_of(command))
    return values


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def rule(param_type: Any, command: str | None = None) -> str | None:
    """What a valid value of ``param_type`` is, in words: ``a whole number from 1 to 50``, ``one of a, b``."""
    values = _values(param_type, command)
    if values is not None:
        return "one of " + ", ".join(values)
    name = getattr(param_type, "name", "")
    if name in ("int", "int range", "float", "float range"):
        what = "a whole number" if name.startswith("int") else "a number"
        low, high = getattr(param_type, "min", None), getattr(param_type, "max", None)
        if low is not None and high is not None:
            return f"{what} from {_number(low)} to {_number(high)}"
        if low is not None:
            return f"{what} of at least {_number(low)}"
        if high is not None:
            return f"{what} of at most {_number(high)}"
        return what
    return None


def _option_name(param: Any) -> str:
    """``--format/-o`` for an option, ``EXCHANGE`` for an argument."""
    if isinstance(param, click_core.TyperOption):
        longs = [o for o in param.opts if o.startswith("--")] + [o for o in param.opts if not o.startswith("--")]
        return "/".join(longs)
    return (param.name or "").upper()


def _see(ctx: Any, path: str = "balcli") -> str:
    return f"see `{getattr(ctx, 'command_path', None) or path} --help`"


def _commands(ctx: Any) -> list[str]:
    group = getattr(ctx, "command", None)
    commands = getattr(group, "commands", None) or {}
    return [name for name, c in commands.items() if not getattr(c, "hidden", False)]


def translate(exc: Any, path: str = "balcli") -> UsageError:
    """A click usage error as balcli's ``UsageError``: what is wrong (naming the option or argument), and a hint
    with the valid values, the range, close matches and the command's ``--help`` (``path``: the command the
    line runs, for errors that come without the parser's context)."""
    ctx = getattr(exc, "ctx", None)
    see = _see(ctx, path)
    if isinstance(exc, click_exceptions.NoSuchOption):
        close = exc.possibilities or difflib.get_close_matches(exc.option_name, _all_options(ctx), n=3)
        global_root = exc.option_name.split("=")[0] in ("--version", "--install-completion", "--show-completion")
        hint = ("it is an option of balcli itself: give it without a command (see `balcli --help`)" if global_root
                else f"did you mean {' or '.join(sorted(close))}? {see}" if close else see)
        return UsageError(f"no such option: {exc.option_name}", hint)
    if isinstance(exc, click_exceptions.MissingParameter):
        param = exc.param
        name = _option_name(param) if param is not None else "a value"
        kind = "option" if isinstance(param, click_core.TyperOption) else "argument"
        valid = rule(param.type) if param is not None else None
        return UsageError(f"missing {kind} {name}", f"give {valid}; {see}" if valid else see)
    if isinstance(exc, click_exceptions.BadParameter):
        param = exc.param
        # param_hint may be a list of names in click's types; balcli's parameters each give it one string
        name = _option_name(param) if param is not None else (exc.param_hint or "")  # type: ignore[assignment]
        problem = _problem(exc.message)
        valid = rule(param.type, getattr(getattr(ctx, "command", None), "name", None)) if param is not None else None
        hint = f"{name} takes {valid}; {see}" if valid else see
        return UsageError(f"invalid value for {name}: {problem}" if name else f"invalid value: {problem}", hint)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    unknown = re.match(r"No such command '(.*?)'\.", message)
    if unknown:
        names = _commands(ctx)
        close = difflib.get_close_matches(unknown.group(1), names, n=3)
        listing = f"commands: {', '.join(names)}" if names else ""
        hint = (f"did you mean {' or '.join(close)}? " if close else "") + "; ".join(
            part for part in (listing, see) if part)
        return UsageError(f"no such command: {unknown.group(1)!r}", hint)
    extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", message)
    if extra:
        return UsageError(f"unexpected extra argument: {extra.group(1)}", see)
    return UsageError(_lower_first(message.rstrip(".")), see)


def _all_options(ctx: Any) -> list[str]:
    command = getattr(ctx, "command", None)
    return [o for p in getattr(command, "params", ()) if isinstance(p, click_core.TyperOption) for o in p.opts
            if o.startswith("--")]


_PROBLEMS = [
    (re.compile(r"^(.*) is not a valid (?:integer|int)( range)?\.?$"), r"\1 is not a whole number"),
    (re.compile(r"^(.*) is not a valid float( range)?\.?$"), r"\1 is not a number"),  # float-ok: click's words
    (re.compile(r"^(.*) is not in the range .*$"), r"\1 is out of range"),
    (re.compile(r"^(.*) is not one of .*$"), r"\1 is not a valid choice"),
    (re.compile(r"^(.*) is not a valid boolean\..*$"), r"\1 is not a boolean"),
]


def _problem(message: str) -> str:
    for pattern, replacement in _PROBLEMS:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return _lower_first(message.rstrip("."))


# -- one help style ---------------------------------------------------------------------------------------

def _walk(command: Any) -> Iterator[Any]:
    yield command
    for sub in (getattr(command, "commands", None) or {}).values():
        yield from _walk(sub)


def tidy(root: Any) -> None:
    """Give every parameter of the tree balcli's help style: an upper-case metavar (the values of a choice
    are listed once in the help, not in the metavar), and one ``[…]`` that states the default, the range or
    the values, and the environment variable, each once (click would add ``[default: 50; 1<=x<=50]`` next to
    a help text that already says it, and an ``[env var: …]`` after one that names it)."""
    for command in _walk(root):
        for param in getattr(command, "params", ()):
            if isinstance(param, click_core.TyperArgument):
                _argument_metavar(param)
                continue
            if not isinstance(param, click_core.TyperOption) or param.hidden or getattr(param, "_balcli_tidy", False):
                continue
            param._balcli_tidy = True  # type: ignore[attr-defined]
            if param.is_flag or param.count:
                facts = []
            else:
                if param.metavar is None or not param.metavar.isupper():
                    param.metavar = _metavar(param)
                facts = _facts(param, command.name)
            help_text = param.help or ""
            if param.envvar and "env:" not in help_text:
                facts.append(f"env: {param.envvar}")
            param.show_envvar = False
            param.show_default = False
            if facts:
                help_text = _with_facts(help_text.rstrip(), facts)
            param.help = help_text
            _drop_click_range(param)


def _metavar(param: Any) -> str:
    if param.metavar and param.metavar.replace(",", "").isalpha():
        return param.metavar.upper()
    name = getattr(param.type, "name", "")
    if name.startswith("int"):
        return "N"
    return (param.name or "value").strip("_").upper()


def _argument_metavar(param: Any) -> None:
    """``EXCHANGE`` (``[EXCHANGE]...`` when optional and repeated) in usage lines, not Typer's
    ``{exchange}:<zoomex|coinw|…>``; the values are in the error message and the argument's help."""
    name = (param.name or "").upper()
    if param.nargs == -1:
        name += "..."
    usage_name = name if param.required else f"[{name}]"

    def make_metavar(ctx: Any, *, usage: bool = False) -> str:
        return usage_name if usage else name

    param.metavar = name
    param.make_metavar = make_metavar


def _with_facts(help_text: str, facts: list[str]) -> str:
    """``Per-request timeout [default: 10; 0.1 to 600].``: into the help's own ``[…]`` when it ends with one."""
    match = re.search(r"\[([^\[\]]*)\](\.?)$", help_text)
    if match:
        return f"{help_text[:match.start()]}[{match.group(1)}; {'; '.join(facts)}]{match.group(2)}"
    return f"{help_text} [{'; '.join(facts)}]".strip()


def _facts(param: Any, command: str | None) -> list[str]:
    """The default and the range or values, unless the option's help text states them already."""
    help_text = param.help or ""
    facts = []
    values = _values(param.type, command)
    if values is not None and not all(v in help_text for v in values):
        facts.append("one of " + "|".join(values))
    elif isinstance(param.type, click_types._NumberRangeBase) and not re.search(r"\d\.\.\d", help_text):
        low, high = param.type.min, param.type.max
        if low is not None and high is not None:
            facts.append(f"{_number(low)} to {_number(high)}")
        elif low is not None:
            facts.append(f"at least {_number(low)}")
        elif high is not None:
            facts.append(f"at most {_number(high)}")
    default = param.default
    if default is not None and default is not False and param.show_default is not False \
            and "default:" not in help_text and not callable(default):
        facts.insert(0, f"default: {_number(getattr(default, 'value', default))}")
    return facts


def _drop_click_range(param: Any) -> None:
    """click appends ``[1<=x<=50]`` to every range option's help; the range is already in balcli's ``[…]``."""
    original = param.get_help_record

    def get_help_record(ctx: Any) -> Any:
        record = original(ctx)
        if record is None or not isinstance(param.type, click_types._NumberRangeBase):
            return record
        name, text = record
        suffix = f"  [{param.type._describe_range()}]"
        return name, text[:-len(suffix)] if text.endswith(suffix) else text

    param.get_help_record = get_help_record
