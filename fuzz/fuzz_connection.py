"""Coverage-guided fuzzing of one server connection with atheris (not run in CI).

Each input is what a peer sends after connecting: the HTTP/2 preface is put in
front of most inputs so the fuzzer spends its time on frames.  The input is cut
into writes, fed to ``Server.serve_transport`` over an in-memory stream on trio's
autojump clock (timeouts cost nothing), then the peer hangs up.  A finding is any
exception escaping the connection task, a handler task still running after it,
a connection that never ends, or server output that is not a sequence of whole
frames.  The session itself is tests/hostile/session.py, shared with the
hypothesis test; README.md (Fuzzing) says how to run this.
"""

from __future__ import annotations

import struct
import sys

import atheris

# Coverage is collected in the protocol code only, not in trio.
with atheris.instrument_imports(include=["trio_h2", "h2", "hpack", "hyperframe"]):
    import hpack

    from tests.hostile.session import PREFACE, check_session, run_session

SETTINGS = struct.pack(">HBBBL", 0, 0, 4, 0, 0)


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
    check_session(*run_session([chunk for chunk in chunks if chunk], linger))


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
