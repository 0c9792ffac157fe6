"""Static files: a handler that serves one directory tree, and never anything outside it.

The request path loses its query, is percent-decoded to bytes and split into
segments; a segment that is ``..`` or holds a separator or a drive is refused (a NUL
anywhere gives 400) before the file system is asked anything.  The joined path is
then resolved with ``os.path.realpath`` and must still lie under the resolved root:
that is what stops symbolic links that point outside.

Everything that touches the file system (resolve, stat, open, list) runs in one
worker-thread call per request, so a slow disk stalls no connection.  The open file
is handed to :meth:`Stream.respond`, which reads it in chunks in a worker thread and
never whole.

A directory listing shows only what a request for it would get: each entry goes
through the same checks as a request path (its name as a segment, a symbolic link
resolved and kept inside the root, a regular file or a directory at the end).

A GET may ask for one byte range of a file (RFC 9110 §14): it gets 206 with that
range, or 416 when the range starts past the end.  A request for several ranges, a
range that does not parse, or an ``if-range`` that no longer matches gets the whole
file (200), as the RFC allows.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote, unquote_to_bytes

import trio

from ._headers import encode, http_date
from .server.body import FILE_CHUNK
from .server.stream import Handler, Stream

_NOT_FOUND = "Not Found"
# Text is labelled UTF-8, the encoding nearly all of it on the web has: text/*, and
# the application and image types that are text (an XML or JSON subtype, "+xml" or
# "+json", counts too).
_TEXT_TYPES = frozenset(
    {
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    }
)
# Compressed files are served as what they are, not with a content-encoding that
# would make the client unpack them.
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}
# O_NONBLOCK: opening a FIFO that was swapped in after the stat must not block a
# worker thread for ever.  O_NOFOLLOW: the resolved path has no symbolic link left,
# so one appearing there now is a race, not a file to serve.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass
class _Reply:
    """A response decided in the worker thread, sent from the event loop."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | IO[bytes] | _FileRange = b""


def serve_directory(
    root: str | os.PathLike[str],
    *,
    index: str | None = "index.html",
    listing: bool = True,
    dotfiles: bool = False,
) -> Handler:
    """A handler that serves the files under ``root``.

    ``GET`` and ``HEAD`` are answered; other methods get 405 with ``allow``.  A file
    comes with ``content-type`` (guessed from its name), ``content-length``,
    ``last-modified`` and ``etag``; a conditional request (``if-none-match``, or
    ``if-modified-since``) that matches gets 304.  A GET with ``range`` asking for one
    byte range gets 206 with it (416 if it starts past the end), unless ``if-range``
    names another version of the file; other ranges get the whole file.  A directory
    is answered with its ``index`` file, else with an HTML listing when ``listing`` is
    true, else 404, and ``/dir`` is redirected (301) to ``/dir/``.  The query string is
    ignored.  A path that would leave ``root`` (``..``, encoded or not, or a symbolic
    link pointing outside) gets 404; a NUL byte gets 400.  Files are streamed, never
    read whole.  Names starting with a dot (``.git``, ``.env``) are neither served nor
    listed unless ``dotfiles`` is true.  Text types (``text/*``, JavaScript, JSON,
    XML, SVG) are labelled ``charset=utf-8``.  A listing gives each entry's size and
    modification time, and leaves out what a request for it would be refused.

    ::

        trio.run(trio_h2.serve, trio_h2.serve_directory("public"))
    """
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        raise ValueError(f"{os.fspath(root)!r} is not a directory")
    # mimetypes, html and email are imported where used: a server that serves no
    # files does not pay their memory.
    import mimetypes

    if not mimetypes.inited:
        mimetypes.init()

    async def handler(stream: Stream) -> None:
        if stream.method not in ("GET", "HEAD"):
            reply = _error(405, "Method Not Allowed")
            reply.headers.append(("allow", "GET, HEAD"))
        else:
            target = _split_target(stream.path, dotfiles)
            if isinstance(target, _Reply):
                reply = target
            else:
                segments, slash, query = target
                reply = await trio.to_thread.run_sync(
                    _lookup,
                    _Request(
                        real_root,
                        segments,
                        slash,
                        query,
                        stream.header("if-none-match"),
                        stream.header("if-modified-since"),
                        stream.header("range"),
                        stream.header("if-range"),
                        stream.method == "GET",
                        index,
                        listing,
                        dotfiles,
                    ),
                )
        try:
            await stream.respond(reply.status, reply.headers, reply.body)
        finally:
            if not isinstance(reply.body, bytes):
                reply.body.close()

    return handler


@dataclass
class _Request:
    root: str
    segments: list[str]
    slash: bool  # the path ended with "/"
    query: str
    if_none_match: str | None
    if_modified_since: str | None
    range: str | None
    if_range: str | None
    want_body: bool
    index: str | None
    listing: bool
    dotfiles: bool


def _error(status: int, reason: str) -> _Reply:
    return _Reply(status, [("content-type", "text/plain")], f"{reason}\n".encode())


def _split_target(target: str, dotfiles: bool) -> tuple[list[str], bool, str] | _Reply:
    """The request target as safe path segments, or the error to answer."""
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        return _error(400, "Bad Request")
    raw = unquote_to_bytes(encode(path))
    if b"\x00" in raw:
        return _error(400, "Bad Request")
    segments: list[str] = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if _refused_segment(part, dotfiles):
            return _error(404, _NOT_FOUND)
        segments.append(os.fsdecode(part))
    return segments, path.endswith("/"), query


def _refused_segment(part: bytes, dotfiles: bool) -> bool:
    """Whether a (percent-decoded) path segment names something never served."""
    name = os.fsdecode(part)
    return bool(
        part == b".."
        or (not dotfiles and part.startswith(b"."))
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or os.path.splitdrive(name)[0]
    )


def _inside(root: str, resolved: str) -> bool:
    """Whether a path with no symbolic link left in it lies under ``root``."""
    return resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)


def _lookup(request: _Request) -> _Reply:
    """Everything that touches the file system, run in a worker thread."""
    root = request.root
    path = os.path.realpath(os.path.join(root, *request.segments))
    if not _inside(root, path):
        return _error(404, _NOT_FOUND)
    try:
        info = os.stat(path)
    except PermissionError:
        return _error(403, "Forbidden")
    except (OSError, ValueError):
        return _error(404, _NOT_FOUND)
    if stat.S_ISDIR(info.st_mode):
        if request.segments and not request.slash:
            return _redirect_to_directory(request)
        if request.index is not None:
            index_path = os.path.join(path, request.index)
            try:
                index_info = os.stat(index_path)
            except (OSError, ValueError):
                pass
            else:
                if stat.S_ISREG(index_info.st_mode):
                    return _file(index_path, index_info, request)
        if request.listing:
            return _listing(root, path, request.segments, request.dotfiles)
        return _error(404, _NOT_FOUND)
    if not stat.S_ISREG(info.st_mode) or request.slash:
        return _error(404, _NOT_FOUND)
    return _file(path, info, request)


def _url_path(segments: list[str]) -> str:
    return "/" + "/".join(quote(os.fsencode(s), safe="") for s in segments)


def _redirect_to_directory(request: _Request) -> _Reply:
    # The location is rebuilt from the checked segments, never copied from the
    # request: "//evil.example" must not turn into a redirect to another site.
    location = _url_path(request.segments) + "/"
    if request.query and request.query.isascii() and request.query.isprintable():
        location += "?" + quote(request.query, safe="/?&=+%:@!$'()*,;~")
    return _Reply(301, [("location", location), ("content-type", "text/plain")])


def _file(path: str, info: os.stat_result, request: _Request) -> _Reply:
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    last_modified = http_date(info.st_mtime)
    validators = [("last-modified", last_modified), ("etag", etag)]
    if _not_modified(etag, int(info.st_mtime), request.if_none_match, request.if_modified_since):
        # A 304 may carry the length the 200 would have had (RFC 9110 §8.6).
        return _Reply(304, [("content-length", str(info.st_size)), *validators])
    headers = [("content-type", _content_type(path)), ("accept-ranges", "bytes"), *validators]
    if not request.want_body:
        return _Reply(200, [*headers, ("content-length", str(info.st_size))])
    wanted = None
    if request.range is not None and _if_range_holds(request.if_range, etag, last_modified):
        try:
            wanted = byte_range(request.range, info.st_size)
        except RangeNotSatisfiable:
            reply = _error(416, "Range Not Satisfiable")
            reply.headers.append(("content-range", f"bytes */{info.st_size}"))
            return reply
    try:
        file = _open_regular(path)
    except PermissionError:
        return _error(403, "Forbidden")
    except OSError:
        return _error(404, _NOT_FOUND)
    if wanted is None:
        # No content-length here: respond() takes it from the open file itself.
        return _Reply(200, headers, file)
    first, last = wanted
    headers += [
        ("content-range", f"bytes {first}-{last}/{info.st_size}"),
        ("content-length", str(last - first + 1)),
    ]
    try:
        body = _FileRange(file, first, last - first + 1)
    except OSError:
        file.close()
        return _error(404, _NOT_FOUND)
    return _Reply(206, headers, body)


class RangeNotSatisfiable(Exception):
    """The range starts at or past the end of the file: 416."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one range ``header`` asks for, as (first, last) inclusive, within ``size``.

    None when the header is to be ignored: another unit, several ranges, or a syntax
    error (RFC 9110 §14.2); :class:`RangeNotSatisfiable` when it starts past the end.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text or last_text):
        return None
    if not all(text.isdigit() and text.isascii() for text in (first_text, last_text) if text):
        return None
    if not first_text:  # a suffix: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: RFC 9110 §14.1.1
    if first >= size:
        raise RangeNotSatisfiable(header)
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


def _if_range_holds(if_range: str | None, etag: str, last_modified: str) -> bool:
    """RFC 9110 §13.1.5: the range applies unless if-range names another version."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return if_range == etag  # a strong comparison: a weak tag never matches
    return if_range == last_modified


class _FileRange:
    """The bytes ``[start, start + length)`` of an open file, as a streamed body.

    Read in worker threads like a whole file; the response's content-length is the
    range's, and a file that shrinks meanwhile falls short of it, which resets the
    stream rather than ending it early.
    """

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        file.seek(start)
        self._file = file
        self._left = length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self._left > 0:
            chunk = await trio.to_thread.run_sync(self._file.read, min(FILE_CHUNK, self._left))
            if not chunk:
                return
            self._left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._file.close()


def _open_regular(path: str) -> IO[bytes]:
    """Open ``path`` for reading if it is (still) a regular file."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _content_type(path: str) -> str:
    import mimetypes

    kind, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    if kind is None:
        return "application/octet-stream"
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+xml", "+json")):
        return f"{kind}; charset=utf-8"
    return kind


def _not_modified(
    etag: str, mtime: int, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    # RFC 9110 §13.1.2-3: If-None-Match wins over If-Modified-Since and compares weakly.
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)
    if if_modified_since is not None:
        from email.utils import parsedate_to_datetime

        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        return since.tzinfo is not None and mtime <= since.timestamp()
    return False


@dataclass(frozen=True)
class _Entry:
    name: str
    directory: bool
    size: int
    mtime: float


def _entry(root: str, entry: os.DirEntry[str], dotfiles: bool) -> _Entry | None:
    """A directory entry as listed, or None if a request for it would be refused.

    The checks are the request path's: the name as a segment, then (for a symbolic
    link) the resolved target inside the root, then a regular file or a directory.
    An entry that is no link lies inside already: the directory itself is resolved.
    """
    if _refused_segment(os.fsencode(entry.name), dotfiles):
        return None
    try:
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if not _inside(root, target):
                return None
            info = os.stat(target)
        else:
            info = entry.stat()
    except (OSError, ValueError):
        return None  # gone, or a link to nothing: 404 for a request too
    if stat.S_ISDIR(info.st_mode):
        return _Entry(entry.name, True, 0, info.st_mtime)
    if stat.S_ISREG(info.st_mode):
        return _Entry(entry.name, False, info.st_size, info.st_mtime)
    return None  # a FIFO, a socket, a device: never served


_LISTING_STYLE = """\
:root { color-scheme: light dark; }
html { font: 16px/1.5 system-ui, sans-serif; }
body { max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.25rem; font-weight: 600; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { font-weight: 600; border-bottom: 1px solid #8886; }
tbody tr:hover { background: #8882; }
td.name { overflow-wrap: anywhere; }
.size, .time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.size { text-align: right; }
td.size, td.time, footer { opacity: .75; }
a { text-decoration: none; }
a:hover { text-decoration: underline; }
footer { margin-top: 1rem; font-size: .875rem; }
"""


def _listing(root: str, path: str, segments: list[str], dotfiles: bool) -> _Reply:
    import html

    try:
        with os.scandir(path) as scan:
            entries = [found for entry in scan if (found := _entry(root, entry, dotfiles))]
    except PermissionError:
        return _error(403, "Forbidden")
    except OSError:
        return _error(404, _NOT_FOUND)
    entries.sort(key=lambda entry: (not entry.directory, entry.name.casefold(), entry.name))
    title = html.escape(_display("/" + "".join(s + "/" for s in segments)))
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Index of {title}</title>",
        f"<style>\n{_LISTING_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Index of {title}</h1>",
        "<table>",
        '<thead><tr><th>Name</th><th class="size">Size</th><th class="time">Modified (UTC)'
        "</th></tr></thead>",
        "<tbody>",
    ]
    if segments:
        lines.append(
            '<tr><td class="name"><a href="../">../</a></td><td class="size"></td>'
            '<td class="time"></td></tr>'
        )
    for entry in entries:
        suffix = "/" if entry.directory else ""
        href = html.escape(quote(os.fsencode(entry.name), safe="") + suffix)
        name = html.escape(_display(entry.name) + suffix)
        size = "\u2014" if entry.directory else _human_size(entry.size)
        moment = time.gmtime(entry.mtime)
        lines.append(
            f'<tr><td class="name"><a href="{href}">{name}</a></td>'
            f'<td class="size"{_exact_size(entry)}>{size}</td>'
            f'<td class="time"><time datetime="{time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)}">'
            f"{time.strftime('%Y-%m-%d %H:%M', moment)}</time></td></tr>"
        )
    directories = sum(entry.directory for entry in entries)
    files = len(entries) - directories
    lines += [
        "</tbody>",
        "</table>",
        f"<footer>{_count(directories, 'directory', 'directories')}, "
        f"{_count(files, 'file', 'files')}</footer>",
        "</body>",
        "</html>",
        "",
    ]
    body = "\n".join(lines).encode("utf-8")
    return _Reply(200, [("content-type", "text/html; charset=utf-8")], body)


def _exact_size(entry: _Entry) -> str:
    return "" if entry.directory or entry.size < 1024 else f' title="{entry.size:,} bytes"'


def _human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``20.0 MiB``: one decimal past the bytes."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1023.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} PiB"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _display(name: str) -> str:
    # Names that are not valid UTF-8 are shown with replacement characters.
    return os.fsencode(name).decode("utf-8", "replace")
