"""One peer session against a server connection, in memory, on an autojump clock.

Shared by the hypothesis test (tests/hostile/test_fuzz.py) and the atheris target
(fuzz/fuzz_connection.py): whatever the peer sends, the connection task must end on
its own once the peer hangs up, raise nothing, leave no handler task behind, and only
ever write whole frames, with nothing after a GOAWAY that reports an error.
"""

from __future__ import annotations

import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import Frame, GoAwayFrame, RstStreamFrame

import trio_h2
from trio_h2.server.listen import Server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HTTP/2 only: a mangled preface must meet HTTP/2's answer, not be served as HTTP/1.1.
CONFIG = trio_h2.Config(max_concurrent_streams=3, idle_timeout=5, send_timeout=5, http1=False)


class Tracking:
    """A handler that pushes, reads, streams and sleeps, counting its live tasks."""

    def __init__(self) -> None:
        self.running = 0

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.running += 1
        try:
            if stream.header("content-length") == "3" or stream.path.endswith("push"):
                await stream.push("/pushed", body=b"p")
            body = await stream.read(limit=100)
            async with stream.start_response(200) as out:
                await out.send(body or b"empty")
                await trio.sleep(1)
                await out.send(b"!")
        finally:
            self.running -= 1


def run_session(chunks: list[bytes], linger: float) -> tuple[list[Frame], Tracking]:
    """Send ``chunks``, wait ``linger`` (virtual) seconds, hang up; the server's frames."""
    handler = Tracking()
    output = bytearray()

    async def main() -> None:
        client, server_side = trio.testing.memory_stream_pair()
        server = Server(handler, CONFIG, None)
        done = trio.Event()

        async def serve() -> None:
            # Whatever escapes serve_transport fails the session through the nursery.
            try:
                await server.serve_transport(server_side, ("fuzz", 0))
            finally:
                done.set()

        async def read() -> None:
            while True:
                try:
                    data = await client.receive_some(65_536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                output.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            nursery.start_soon(read)
            try:
                for chunk in chunks:
                    await client.send_all(chunk)
                    await trio.testing.wait_all_tasks_blocked()
                await trio.sleep(linger)
            except trio.BrokenResourceError:
                pass
            await client.send_stream.aclose()
            # With the peer gone, the connection must end by itself.
            with trio.fail_after(3_600):
                await done.wait()
            await client.aclose()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return parse_all(bytes(output)), handler


def parse_all(data: bytes) -> list[Frame]:
    """Every frame in ``data``; fails on anything but a sequence of whole frames."""
    out: list[Frame] = []
    view = memoryview(data)
    while view:
        assert len(view) >= 9, f"trailing partial frame header {bytes(view)!r}"
        parsed, length = Frame.parse_frame_header(view[:9])
        assert len(view) >= 9 + length, "trailing partial frame"
        parsed.parse_body(view[9 : 9 + length])
        out.append(parsed)
        view = view[9 + length :]
    return out


def check_session(frames_out: list[Frame], handler: Tracking) -> None:
    """What every session must satisfy, whatever the peer sent."""
    assert handler.running == 0, f"{handler.running} handler tasks outlived the connection"
    for index, item in enumerate(frames_out):
        if isinstance(item, RstStreamFrame):
            assert item.stream_id != 0
        if isinstance(item, GoAwayFrame) and item.error_code != ErrorCodes.NO_ERROR:
            later = frames_out[index + 1 :]
            assert all(isinstance(f, GoAwayFrame) for f in later), later
