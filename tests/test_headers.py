"""Header helpers: the date header's format, and what importing the package costs."""

from __future__ import annotations

import subprocess
import sys
from email.utils import formatdate

import pytest

from trio_h2._errors import LocalProtocolError
from trio_h2._headers import DateCache, check_headers, http_date


@pytest.mark.parametrize(
    "seconds", [0, 784_111_777, 951_782_400, 1_700_000_000.75, 2_000_000_000, 4_102_444_799]
)
def test_http_date_is_the_imf_fixdate_email_utils_gives(seconds: float) -> None:
    assert http_date(seconds) == formatdate(seconds, usegmt=True)


def test_date_cache_gives_the_current_second() -> None:
    value = DateCache().now().decode("ascii")
    assert value.endswith(" GMT")
    assert len(value) == len("Sun, 06 Nov 1994 08:49:37 GMT")


def test_importing_the_server_leaves_heavy_modules_unloaded() -> None:
    # Every server process pays for what the package imports: these are needed
    # only for static files and are imported there, when used.
    code = (
        "import sys, trio_h2; "
        "print(sorted(m for m in ('email', 'mimetypes', 'html') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_checked_header_pairs_are_remembered_within_bounds() -> None:
    from trio_h2 import _headers

    pair = ("content-type", "text/plain")
    assert check_headers([pair]) == [(b"content-type", b"text/plain")]
    assert _headers._checked_str[pair] == (b"content-type", b"text/plain")
    # A pair checked for a response is still refused as a trailer where it must be.
    check_headers([("content-length", "5")])
    with pytest.raises(LocalProtocolError):
        check_headers([("content-length", "5")], trailers=True)
    # Refused pairs are refused every time, and long values are not kept.
    for _ in range(2):
        with pytest.raises(LocalProtocolError):
            check_headers([("x-bad", "a\r\nb")])
    long_value = ("x-long", "v" * 1_000)
    check_headers([long_value])
    assert long_value not in _headers._checked_str
    for i in range(3 * _headers._CHECKED_MAX):
        check_headers([("x-n", str(i))])
    assert len(_headers._checked_str) <= _headers._CHECKED_MAX
    # Pairs that are not tuples of str/bytes still get a clear error.
    with pytest.raises(LocalProtocolError):
        check_headers([("x-list", ["a"])])  # type: ignore[list-item]


def test_bytes_and_str_pairs_are_cached_apart() -> None:
    from trio_h2 import _headers

    check_headers([(b"x-kind", b"bytes"), ("x-kind", "str"), ("x-mixed", b"v")])
    assert (b"x-kind", b"bytes") in _headers._checked_bytes
    assert ("x-kind", "str") in _headers._checked_str
    # A pair of mixed types is checked every time, never looked up among the others.
    assert ("x-mixed", b"v") not in _headers._checked_str
    assert ("x-mixed", b"v") not in _headers._checked_bytes


def test_a_server_works_under_python_bb() -> None:
    # Under -bb a comparison of bytes with str raises: a response, an informational
    # response and headers given as str and as bytes must all go through.
    code = (
        "import trio, trio_h2\n"
        "from trio_h2.testing import connect\n"
        "async def handler(stream):\n"
        "    await stream.send_informational(103, [('link', '</a.css>')])\n"
        "    await stream.respond(200, [('x-s', 'v'), (b'x-b', b'v')], b'ok')\n"
        "async def main():\n"
        "    async with connect(handler) as client:\n"
        "        for _ in range(3):\n"
        "            r = await client.get('/', raise_on_reset=False)\n"
        "            print(r.status, r.reset_code, r.body.decode(), len(r.informational))\n"
        "trio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-bb", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["200 None ok 1"] * 3
