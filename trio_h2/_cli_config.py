"""Every field of :class:`~trio_h2.Config` as a command-line flag, and ``--config FILE``.

The flags are made from the dataclass itself: the name (``max_connections`` is
``--max-connections``), the type (a bool is ``--x/--no-x``; ``int | None`` and
``str | None`` also take ``none``; a ``tuple[str, ...]`` is a comma-separated list,
``--forwarded-allow-ips 127.0.0.1,10.0.0.0/8``, and a TOML list), the default, and
the help text, which is the field's ``#:`` comment in ``_config.py``.  Nothing is
listed twice, so a new field is a new flag.  Values are checked by Config itself,
whose message names the field.

``--config FILE`` reads a TOML table of the same names (``max_connections = 500``, or
under ``[trio_h2]``); flags given as well win over the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ._config import Config

#: Where the flags' values land in the argparse namespace: ``config.<field>``.
_DEST = "config."


class ConfigFileError(Exception):
    """A ``--config`` file that cannot be used; the message says why."""


@cache
def field_help() -> dict[str, str]:
    """Each field's ``#:`` comment from Config's source, joined into one line."""
    try:
        source = inspect.getsource(Config)
    except (OSError, TypeError):
        return {}  # no source to read (a frozen or compiled install): names only
    helps: dict[str, str] = {}
    comment: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and comment:
            helps[match.group(1)] = " ".join(comment)
        comment = []
    return helps


def _plain(text: str) -> str:
    """reST markup out of a help text (``x`` and :meth:`x` read badly in a terminal)."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "").replace("%", "%%")


@dataclasses.dataclass(frozen=True)
class _Kind:
    base: type
    optional: bool


def _kinds() -> dict[str, _Kind]:
    hints = typing.get_type_hints(Config)
    kinds: dict[str, _Kind] = {}
    for field in dataclasses.fields(Config):
        hint = hints[field.name]
        optional = False
        if isinstance(hint, types.UnionType):
            members = [m for m in typing.get_args(hint) if m is not type(None)]
            optional = len(members) < len(typing.get_args(hint))
            (hint,) = members
        if typing.get_origin(hint) is tuple:
            hint = tuple  # tuple[str, ...]: a list of strings
        kinds[field.name] = _Kind(hint, optional)
    return kinds


def _parser_for(name: str, kind: _Kind) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if kind.optional and text.lower() == "none":
            return None
        if kind.base is tuple:
            return _split_list(text)
        try:
            return kind.base(text)
        except ValueError:
            what = {int: "an integer", float: "a number"}.get(kind.base, kind.base.__name__)
            extra = " or none" if kind.optional else ""
            raise argparse.ArgumentTypeError(f"expected {what}{extra}, not {text!r}") from None

    parse.__name__ = kind.base.__name__  # argparse names the type in its messages
    return parse


def _split_list(text: str) -> tuple[str, ...]:
    """``"a, b,c"`` as ``("a", "b", "c")``: how a list field is given on the command line."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _shown(default: object, base: type) -> object:
    if default is None:
        return "none"
    if base is float:
        return f"{default:g}"
    if base is tuple:
        return ",".join(typing.cast(tuple[str, ...], default)) or "empty"
    return default


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE`` and a flag per Config field, in a group of their own."""
    group = parser.add_argument_group(
        "limits and timeouts (trio_h2.Config)",
        "Each Config field; 'none' where a field may be None.  "
        "--config FILE reads them from a TOML file first.",
    )
    group.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        help="a TOML file of Config fields (e.g. max_connections = 500); flags win over it",
    )
    helps = field_help()
    defaults = Config()
    for name, kind in _kinds().items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        text = _plain(helps.get(name, name))
        if kind.base is bool:
            group.add_argument(
                flag,
                dest=_DEST + name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{text} (default: {'on' if default else 'off'})",
            )
            continue
        extra = "comma-separated; " if kind.base is tuple else ""
        group.add_argument(
            flag,
            dest=_DEST + name,
            type=_parser_for(name, kind),
            default=argparse.SUPPRESS,
            metavar={int: "N", float: "SECONDS", tuple: "LIST"}.get(kind.base, "TEXT"),
            help=f"{text} ({extra}default: {_shown(default, kind.base)})",
        )


def config_changes(args: argparse.Namespace) -> dict[str, object]:
    """The Config fields the command line set: the ``--config`` file's, then the flags'.

    Raises :class:`ConfigFileError` for a file that cannot be read or holds unknown
    names or values of the wrong type; and ``ValueError`` (from Config) for values
    out of range.
    """
    changes: dict[str, object] = {}
    path = getattr(args, "config_file", None)
    if path is not None:
        changes.update(load_config_file(path))
    for key, value in vars(args).items():
        if key.startswith(_DEST):
            changes[key[len(_DEST) :]] = value
    Config(**changes)  # type: ignore[arg-type]  # validates, naming the field
    return changes


def load_config_file(path: str) -> dict[str, object]:
    """The Config fields in a TOML file (at the top level or under ``[trio_h2]``)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(f"cannot read --config {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config {path!r} is not valid TOML: {exc}") from None
    table: Mapping[str, Any] = data.get("trio_h2", data) if isinstance(data, dict) else {}
    kinds = _kinds()
    changes: dict[str, object] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        kind = kinds.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, kinds, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigFileError(f"--config {path!r}: {key!r} is not a Config field{hint}")
        if value == "none" and kind.optional:
            value = None
        elif kind.base is tuple and isinstance(value, str):
            value = _split_list(value)
        elif kind.base is tuple and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ConfigFileError(
                    f"--config {path!r}: {key} must be a list of strings, not {value!r}"
                )
            value = tuple(value)
        elif kind.base is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = (value is None and kind.optional) or (
            isinstance(value, kind.base) and (kind.base is bool or not isinstance(value, bool))
        )
        if not ok:
            what = "a list of strings" if kind.base is tuple else kind.base.__name__
            raise ConfigFileError(
                f"--config {path!r}: {key} must be {what}"
                f"{' or none' if kind.optional else ''}, not {value!r}"
            )
        changes[name] = value
    return changes
