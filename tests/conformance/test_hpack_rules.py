"""RFC 7541 as a server meets it, and SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2)."""

from __future__ import annotations

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import SettingsFrame

import trio_h2

from .rawpeer import GET, PREFACE, open_peer

COMPRESSION_ERROR = ErrorCodes.COMPRESSION_ERROR

# "x-test: test" as a literal without indexing, new name, Huffman-coded strings.
BAD_HUFFMAN = {
    # §5.2: padding longer than 7 bits
    "padding longer than 7 bits": b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff",
    # §5.2: padding that is not the EOS prefix (zeros)
    "padding of zeros": b"\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90",
    # §5.2: the EOS symbol inside the string
    "EOS symbol": b"\x00\x85\xf2\xb2\x4a\x87\xff\xff\xff\xfd\x25\x42\x7f",
}


@pytest.mark.parametrize("name", list(BAD_HUFFMAN))
async def test_bad_huffman_string_is_compression_error(name: str) -> None:
    async with open_peer() as peer:
        block = peer.encode(GET) + BAD_HUFFMAN[name]
        await peer.send(peer.headers(1, block=block))
        await peer.expect_goaway(COMPRESSION_ERROR)


@pytest.mark.parametrize(
    "block",
    [
        b"\x80",  # §6.1: index 0
        b"\xff\x00",  # §2.3.3: indexed field past the tables (index 127)
        b"\x7f\x7f\x01a",  # §2.3.3: literal with an indexed name past the tables
        b"\x82\x86\x84\xbe",  # index 62: the dynamic table is empty
    ],
)
async def test_invalid_index_is_compression_error(block: bytes) -> None:
    async with open_peer() as peer:
        await peer.send(peer.headers(1, block=block))
        await peer.expect_goaway(COMPRESSION_ERROR)


async def test_table_size_update_at_the_end_of_a_block_is_compression_error() -> None:
    async with open_peer() as peer:
        block = peer.encode(GET) + b"\x21"  # §4.2: size updates come first
        await peer.send(peer.headers(1, block=block))
        await peer.expect_goaway(COMPRESSION_ERROR)


async def test_table_size_update_over_the_setting_is_compression_error() -> None:
    config = trio_h2.Config(header_table_size=4_096)
    async with open_peer(config=config) as peer:
        # §6.3: a new maximum size of 4097, over SETTINGS_HEADER_TABLE_SIZE.
        block = b"\x3f\xe2\x1f" + peer.encode(GET)
        await peer.send(peer.headers(1, block=block))
        await peer.expect_goaway(COMPRESSION_ERROR)


async def test_table_size_updates_at_the_start_are_accepted() -> None:
    async with open_peer() as peer:
        peer.encoder.header_table_size = 0
        peer.encoder.header_table_size = 4_096
        block = peer.encode(GET)
        assert block[:1] == b"\x20"  # the encoder signals 0, then 4096
        await peer.send(peer.headers(1, block=block))
        assert (await peer.expect_response(1)).status == 200


async def test_dynamic_table_entries_are_reused_across_requests() -> None:
    seen: list[str | None] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.header("x-token"))
        await stream.respond(200)

    async with open_peer(handler) as peer:
        await peer.request(1, [*GET, ("x-token", "t" * 50)])
        await peer.expect_response(1)
        block = peer.encode([*GET, ("x-token", "t" * 50)])
        assert len(block) < 10  # all indexed now
        await peer.send(peer.headers(3, block=block))
        await peer.expect_response(3)
    assert seen == ["t" * 50, "t" * 50]


# -------------------------------------------------- header list size limits


async def test_max_header_list_size_is_advertised() -> None:
    config = trio_h2.Config(max_header_list_size=8_192)
    async with open_peer(config=config) as peer:
        assert peer.server_settings[SettingsFrame.MAX_HEADER_LIST_SIZE] == 8_192


async def test_header_list_over_the_limit_is_answered_431() -> None:
    config = trio_h2.Config(max_header_list_size=4_096)
    called: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        called.append(stream.path)
        await stream.respond(200)

    async with open_peer(handler, config) as peer:
        await peer.request(1, [*GET, ("x-big", "b" * 5_000)])
        response = await peer.expect_response(1)
        assert response.status == 431
        await peer.assert_alive()
    assert called == []


async def test_header_list_over_the_limit_before_settings_ack_is_answered_431() -> None:
    # The same request, sent before the client has acknowledged the server's SETTINGS:
    # the limit does not depend on when the ACK comes.
    config = trio_h2.Config(max_header_list_size=4_096)
    async with open_peer(config=config, handshake=False) as peer:
        await peer.send(PREFACE, SettingsFrame(0))
        await peer.request(1, [*GET, ("x-big", "b" * 5_000)])
        response = await peer.expect_response(1)
        assert response.status == 431
        await peer.send(SettingsFrame(0, flags=["ACK"]))
        await peer.assert_alive()


async def test_header_list_far_over_the_limit_closes_the_connection() -> None:
    config = trio_h2.Config(max_header_list_size=4_096)
    async with open_peer(config=config) as peer:
        # Decoding stops at twice the limit: HPACK is out of step, so GOAWAY.
        await peer.request(1, [*GET, *((f"x-big{i}", "b" * 3_000) for i in range(3))])
        await peer.expect_goaway(ErrorCodes.ENHANCE_YOUR_CALM)
