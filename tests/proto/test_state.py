"""The protocol-neutral stream and connection state, with no trio and no socket."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trio_h2.proto
from trio_h2 import LocalProtocolError, StreamReset
from trio_h2.proto.state import ConnectionState, ResponseState, StreamState


def test_a_response_goes_idle_started_ended() -> None:
    state = StreamState("<Stream 1 GET />")
    assert not state.response_started
    state.check_can_start()
    with pytest.raises(LocalProtocolError, match="has not started"):
        state.check_open()
    state.start_response(200)
    assert (state.response, state.status) == (ResponseState.STARTED, 200)
    state.check_open()
    with pytest.raises(LocalProtocolError, match="already started"):
        state.check_can_start()
    state.end_response()
    assert state.response_ended
    with pytest.raises(
        LocalProtocolError, match="<Stream 1 GET />: the response has already ended"
    ):
        state.check_open()


def test_the_first_reset_wins_and_an_end_does_not_undo_it() -> None:
    state = StreamState("s")
    state.start_response(200)
    assert state.reset(8, remote=True)
    assert not state.reset(2, remote=False)
    state.end_response()
    assert state.response is ResponseState.RESET
    assert (state.reset_code, state.remote_reset) == (8, True)
    for check in (state.check_open, state.check_can_start):
        with pytest.raises(StreamReset) as caught:
            check()
        assert (caught.value.error_code, caught.value.remote) == (8, True)


def test_request_side_is_independent_of_the_response() -> None:
    state = StreamState("s")
    state.start_response(204)
    state.end_response()
    assert not state.request_ended
    state.end_request()
    assert state.request_ended


def test_connection_states_are_ordered_as_a_connection_lives() -> None:
    assert list(ConnectionState) == sorted(ConnectionState)
    assert ConnectionState.HANDSHAKE < ConnectionState.OPEN < ConnectionState.DRAINING
    assert ConnectionState.DRAINING < ConnectionState.CLOSING < ConnectionState.BROKEN


def test_the_protocol_layer_imports_no_io_library() -> None:
    # Importing trio_h2 pulls in the server (and trio) through the parent package, so
    # the layer's own sources are what is checked.
    root = Path(trio_h2.proto.__file__).parent
    found = []
    checked = set()
    for path in root.rglob("*.py"):
        relative = path.relative_to(root.parent)
        checked.add(str(relative.relative_to("proto")))
        package = ["trio_h2", *relative.parent.parts]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                # Outside the layer, only the shared modules that import no I/O.
                if not target.startswith("trio_h2.proto") and target not in _SHARED:
                    found.append(f"{relative}: {target}")
            found += [f"{relative}: {n}" for n in names if n.split(".")[0] in _IO]
    assert found == []
    assert {"h1/connection.py", "h1/gate.py", "h2/connection.py", "state.py"} <= checked


_SHARED = {"trio_h2._errors", "trio_h2._config", "trio_h2._headers"}
_IO = {"trio", "socket", "ssl", "asyncio", "selectors"}


def test_only_the_protocol_layer_uses_the_http2_libraries() -> None:
    # The test client (trio_h2.testing) is the one exception: it is an independent
    # peer, and runs on h2 as released on purpose.
    package = Path(trio_h2.proto.__file__).parent.parent
    found = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] == "proto" or relative == Path("testing.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{relative}: {n}" for n in names if n.split(".")[0] in _HTTP2]
    assert found == []


_HTTP2 = {"h2", "hpack", "hyperframe"}
