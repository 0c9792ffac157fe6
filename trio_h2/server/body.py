"""Response body sources: whatever a handler hands over, as a stream of byte chunks."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO, Any, NoReturn

import trio

from .._errors import LocalProtocolError

#: Everything :meth:`Stream.respond` accepts as a body.
Body = bytes | bytearray | memoryview | str | IO[bytes] | AsyncIterable[bytes] | None

#: Bytes read from a file per worker-thread call.
FILE_CHUNK = 65_536


def fixed_body(body: Body) -> bytes | None:
    """The body as bytes if it is already in memory, else None."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return None


def known_length(body: Body) -> int | None:
    """The body's length when it can be told without reading it (regular files)."""
    fixed = fixed_body(body)
    if fixed is not None:
        return len(fixed)
    if isinstance(body, io.TextIOBase):
        # Its size on disk is not the length of its UTF-8 encoding.
        return None
    if isinstance(body, io.IOBase) or hasattr(body, "read"):
        try:
            info = os.fstat(body.fileno())  # type: ignore[union-attr]
            position = body.tell()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            pass
        else:
            if stat.S_ISREG(info.st_mode):
                return max(info.st_size - position, 0)
        if isinstance(body, io.BytesIO):
            return len(body.getbuffer()) - body.tell()
    return None


async def _file_chunks(file: IO[Any]) -> AsyncIterator[bytes]:
    # A blocking read would stall every connection on this thread: read in a worker.
    # BytesIO is already in memory, so it is sliced without a thread.
    in_memory = isinstance(file, io.BytesIO)
    while True:
        if in_memory:
            chunk = file.read(FILE_CHUNK)
            await trio.lowlevel.checkpoint()
        else:
            chunk = await trio.to_thread.run_sync(file.read, FILE_CHUNK)
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if not isinstance(chunk, bytes | bytearray):
            raise LocalProtocolError(f"file body read() returned {type(chunk).__name__}")
        if not chunk:
            return
        yield bytes(chunk)


async def _checked(source: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    iterator = aiter(source)
    try:
        async for chunk in iterator:
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            elif isinstance(chunk, bytearray | memoryview):
                chunk = bytes(chunk)
            elif not isinstance(chunk, bytes):
                raise LocalProtocolError(
                    f"a streamed body yields bytes or str, not {type(chunk).__name__}"
                )
            yield chunk
    finally:
        # `async for` leaves an unfinished iterator open; finish it here, in this
        # task, not later from the garbage collector.
        await _aclose(iterator)


def check(body: Body) -> None:
    """Raise :class:`LocalProtocolError` unless ``body`` is something a response takes."""
    if fixed_body(body) is None and not hasattr(body, "read") and not hasattr(body, "__aiter__"):
        _refuse(body)


def chunks(body: Body) -> AsyncIterator[bytes]:
    """The chunks of a streamed body (file-like or async iterable)."""
    if hasattr(body, "read"):
        return _file_chunks(body)  # type: ignore[arg-type]
    if hasattr(body, "__aiter__"):
        return _checked(body)  # type: ignore[arg-type]
    _refuse(body)


def _refuse(body: object) -> NoReturn:
    raise LocalProtocolError(
        "a body is bytes, str, a binary file object, an async iterable of bytes or a "
        f"trio.MemoryReceiveChannel, not {type(body).__name__}"
    )


async def close(source: AsyncIterator[bytes], body: Body) -> None:
    """Release a streamed body once the response is done with it, finished or not.

    A file is closed; an async generator is closed; a channel's receive side is
    closed, so its producer learns (``trio.BrokenResourceError``) that nobody reads.
    """
    try:
        await _aclose(source)
    finally:
        if hasattr(body, "read"):
            close_file = getattr(body, "close", None)
            if close_file is not None:
                close_file()
        elif isinstance(body, trio.abc.ReceiveChannel):
            close_channel = getattr(body, "close", None)
            if close_channel is not None:
                # Synchronous, so it happens even in a cancelled scope.
                close_channel()
            else:
                await body.aclose()
        else:
            await _aclose(body)


async def _aclose(obj: object) -> None:
    aclose = getattr(obj, "aclose", None)
    if aclose is not None:
        await aclose()
