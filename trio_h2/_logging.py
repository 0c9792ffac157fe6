"""Logging for the command line: the server's log, the access log and their formats.

The access log's fields ride on each record (see ``trio_h2/server/access.py``), so a
format is only a way of laying them out: ``default`` (the line as the server writes
it), ``common`` and ``combined`` (the Apache/nginx layouts, for the tools that read
them), ``json`` (one object per line), or any ``%``-style logging format naming the
fields, e.g. ``'%(client)s %(status)s %(duration).3f'``.

``--log-config FILE`` hands a ``logging.config.dictConfig`` dictionary, written as JSON
or TOML, the whole set-up instead.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
import tomllib
from pathlib import Path
from typing import IO, Any

from .server.access import FIELDS

#: The access log's own fields, in the order the JSON format writes them.
ACCESS_FIELDS = FIELDS

#: Names a ``--access-log-format`` may give instead of a format string.
ACCESS_FORMATS = ("default", "common", "combined", "json")

_COMMON = (
    '%(client)s - - [%(asctime)s] "%(method)s %(target)s HTTP/%(protocol)s" %(status)s %(bytes)s'
)
_CLF_DATE = "%d/%b/%Y:%H:%M:%S %z"


class LogConfigError(Exception):
    """A logging option that cannot be used; the message says why."""


class Formatter(logging.Formatter):
    """logging's Formatter, with the time formatted once a second, not once a line.

    An access line is written per request, and ``time.strftime`` was a good part of
    what one costs.
    """

    _second = -1
    _text = ""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._uses_time = self.usesTime()

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        # logging.Formatter.format, less what a record without a traceback skips:
        # asking the style afresh whether the layout has a time in it.
        record.message = record.getMessage()
        if self._uses_time:
            record.asctime = self.formatTime(record, self.datefmt)
        return self.formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            layout = datefmt or self.default_time_format
            self._text = time.strftime(layout, self.converter(record.created))
            self._second = second
        if datefmt is not None:
            return self._text
        return f"{self._text},{int(record.msecs):03d}"


class JSONFormatter(Formatter):
    """One JSON object per access line: the time (ISO 8601, UTC) and every field."""

    _encode = json.JSONEncoder(ensure_ascii=False).encode

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        fields: dict[str, Any] = {"time": f"{self._text}.{int(record.msecs):03d}Z"}
        get = record.__dict__.get
        for name in ACCESS_FIELDS:
            fields[name] = get(name)
        if isinstance(fields["duration"], float):
            fields["duration"] = round(fields["duration"], 6)
        return self._encode(fields)


class LineHandler(logging.StreamHandler[IO[str]]):
    """A StreamHandler that flushes only a stream that does not flush each line itself.

    stderr, and the files the access log opens, are line-buffered: writing the line
    has sent it, and StreamHandler's flush after every record is a second call for
    nothing.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._line_buffered = bool(getattr(stream, "line_buffering", False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if not self._line_buffered:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def access_formatter(spec: str, prefix: str = "") -> logging.Formatter:
    """The Formatter for an ``--access-log-format`` value (a name or a format).

    Raises :class:`LogConfigError` for a format that names no field of the record.
    """
    if spec == "default":
        return Formatter("%(asctime)s " + prefix + "%(message)s")
    if spec == "common":
        return Formatter(_COMMON, datefmt=_CLF_DATE)
    if spec == "combined":
        return Formatter(_COMMON + ' "%(referer)s" "%(user_agent)s"', datefmt=_CLF_DATE)
    if spec == "json":
        return JSONFormatter()
    if "%(" not in spec:
        raise LogConfigError(
            f"access log format {spec!r} is neither one of {', '.join(ACCESS_FORMATS)} "
            "nor a %-style format such as '%(client)s %(status)s'"
        )
    formatter = Formatter(spec)
    probe = logging.LogRecord("trio_h2.access", logging.INFO, __file__, 0, "", None, None)
    probe.__dict__.update(dict.fromkeys(ACCESS_FIELDS, 0))
    try:
        formatter.format(probe)
    except (KeyError, ValueError, TypeError) as exc:
        known = ", ".join(ACCESS_FIELDS)
        raise LogConfigError(
            f"access log format {spec!r} does not work: {exc!r} (its fields: {known})"
        ) from None
    return formatter


def _stream_for(target: str) -> IO[str]:
    if target == "":
        return sys.stderr
    if target == "-":
        return sys.stdout
    try:
        # Line-buffered, appending: several worker processes may share the file.
        return open(target, "a", buffering=1, encoding="utf-8")
    except OSError as exc:
        raise LogConfigError(
            f"cannot open the access log {target!r}: {exc.strerror or exc}"
        ) from None


def configure(
    level: str,
    *,
    access_log: str | None = "",
    access_format: str = "default",
    log_config: str | None = None,
    workers: int = 1,
) -> None:
    """Set logging up for a server process.

    ``access_log`` is where access lines go: ``""`` for stderr, ``"-"`` for stdout, a
    file name (appended to), or None for none.  ``log_config`` is a JSON or TOML file
    for ``logging.config.dictConfig``, which then replaces all the rest.
    """
    if log_config is not None:
        settings = load_log_config(log_config)
        # The server's loggers exist by now (they are made at import): a file that
        # does not name them must not silence them.
        settings.setdefault("disable_existing_loggers", False)
        try:
            logging.config.dictConfig(settings)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise LogConfigError(f"--log-config {log_config!r}: {exc}") from None
        return
    prefix = "[%(process)d] " if workers > 1 else ""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        Formatter("%(asctime)s " + prefix + "%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.getLogger("trio_h2.access")
    access.propagate = False
    if access_log is None:
        access.handlers[:] = []
        access.setLevel(logging.WARNING)
        return
    access_handler = LineHandler(_stream_for(access_log))
    access_handler.setFormatter(access_formatter(access_format, prefix))
    access.handlers[:] = [access_handler]
    access.setLevel(logging.INFO)


def load_log_config(path: str) -> dict[str, Any]:
    """The dictConfig dictionary in a ``.json`` or ``.toml`` file, checked for shape."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise LogConfigError(f"cannot read --log-config {path!r}: {exc.strerror or exc}") from None
    try:
        if file.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise LogConfigError(f"--log-config {path!r}: the name must end in .json or .toml")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LogConfigError(f"--log-config {path!r} does not parse: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise LogConfigError(
            f"--log-config {path!r} must hold a logging.config.dictConfig dictionary "
            "with version = 1"
        )
    return data
