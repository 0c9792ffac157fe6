"""Coverage-guided fuzzing of one server connection with atheris (not run in CI).

Each input is what a peer sends after connecting: the HTTP/2 preface is put in
front of most inputs so the fuzzer spends its time on frames.  The input is cut
into writes, fed to ``Server.serve_transport`` over an in-memory stream on trio's
autojump clock (timeouts cost nothing), then the peer hangs up.  A finding is any
exception escaping the connection task, a handler task still running after it,
a connection that never ends, or server output that is not a sequence of whole
frames.  See docs/hardening.md for how to run it.
"""

from __future__ import annotations

import struct
import sys

import atheris
import trio
import trio.testing

# Coverage is collected in the protocol code only, not in trio.
with atheris.instrument_imports(include=["trio_h2", "h2", "hpack", "hyperframe"]):
    import hpack
    import hyperframe.frame

    import trio_h2
    from trio_h2._server import Server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = struct.pack(">HBBBL", 0, 0, 4, 0, 0)
CONFIG = trio_h2.Config(max_concurrent_streams=4, idle_timeout=5, send_timeout=5)


class Tracking:
    def __init__(self) -> None:
        self.running = 0

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.running += 1
        try:
            if stream.path.endswith("push"):
                await stream.push("/pushed", body=b"p")
            body = await stream.read(limit=1_000)
            async with stream.start_response(200) as out:
                await out.send(body or b"empty")
                await trio.sleep(1)
                await out.send(b"!")
        finally:
            self.running -= 1


def check_frames(data: bytes) -> None:
    view = memoryview(data)
    while view:
        if len(view) < 9:
            raise AssertionError(f"partial frame header at the end: {bytes(view)!r}")
        frame, length = hyperframe.frame.Frame.parse_frame_header(view[:9])
        if len(view) < 9 + length:
            raise AssertionError("partial frame at the end")
        frame.parse_body(view[9 : 9 + length])
        view = view[9 + length :]


def run(chunks: list[bytes], linger: float) -> None:
    handler = Tracking()
    output = bytearray()

    async def main() -> None:
        client, server_side = trio.testing.memory_stream_pair()
        server = Server(handler, CONFIG, None)
        done = trio.Event()

        async def serve() -> None:
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
            with trio.fail_after(3_600):
                await done.wait()
            await client.aclose()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    if handler.running:
        raise AssertionError(f"{handler.running} handler tasks outlived the connection")
    check_frames(bytes(output))


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.ConsumeIntInRange(0, 9)
    linger = [0, 0.5, 2, 30][provider.ConsumeIntInRange(0, 3)]
    cuts = sorted(
        provider.ConsumeIntInRange(0, 4096) for _ in range(provider.ConsumeIntInRange(0, 4))
    )
    body = provider.ConsumeBytes(provider.remaining_bytes())
    if mode == 0:
        stream = body  # anything at all, preface included or not
    elif mode == 1:
        stream = PREFACE + body  # the fuzzer writes the SETTINGS too
    else:
        stream = PREFACE + SETTINGS + body
    cuts = [min(cut, len(stream)) for cut in cuts]
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    run([chunk for chunk in chunks if chunk], linger)


def seeds() -> list[bytes]:
    """A few inputs that reach deep states (requests, bodies, resets)."""
    encoder = hpack.Encoder()
    request = encoder.encode(
        [(":method", "POST"), (":scheme", "http"), (":path", "/push"), (":authority", "a")]
    )

    def frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        n = len(payload)
        return struct.pack(">HBBBL", n >> 8, n & 0xFF, ftype, flags, stream_id) + payload

    return [
        b"\x02\x02" + frame(1, 5, 1, request),
        b"\x02\x02" + frame(1, 4, 1, request) + frame(0, 1, 1, b"body"),
        b"\x02\x01" + frame(1, 4, 1, request) + frame(3, 0, 1, b"\x00\x00\x00\x08"),
        b"\x02\x03" + frame(1, 5, 1, request) + frame(7, 0, 0, b"\x00" * 8),
    ]


def main() -> None:
    if "--write-seeds" in sys.argv:
        directory = sys.argv[sys.argv.index("--write-seeds") + 1]
        for index, seed in enumerate(seeds()):
            with open(f"{directory}/seed{index}", "wb") as file:
                file.write(seed)
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
