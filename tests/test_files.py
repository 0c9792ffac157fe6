"""serve_directory(): static files in memory, including every way out of the root we know."""

from __future__ import annotations

import html
import os
import re
from email.utils import formatdate
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2 import _files
from trio_h2._files import _Reply, _split_target
from trio_h2.testing import connect

EVIL_NAME = '<img src=x onerror="alert(1)">&\'.txt'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A served root, with a secret next to it (outside) that must never leak."""
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "empty.txt").write_text("")
    (root / "page.html").write_text("<p>page</p>")
    (root / "style.css").write_text("p {}")
    (root / "data.json").write_text("{}")
    (root / "blob.unknownext").write_bytes(b"\x00\x01")
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "with space é.txt").write_text("spaced\n")
    docs = root / "docs"
    docs.mkdir()
    (docs / "index.html").write_text("<h1>docs</h1>")
    (docs / "guide.txt").write_text("guide\n")
    listed = root / "listed"
    listed.mkdir()
    (listed / "b.txt").write_text("b")
    (listed / EVIL_NAME).write_text("x")
    (listed / "sub").mkdir()
    return root


async def get(
    root: Path, path: str, method: str = "GET", headers: list[tuple[str, str]] | None = None
) -> trio_h2.testing.Response:
    async with connect(trio_h2.serve_directory(root)) as client:
        return await client.request(method, path, headers or [])


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/hello.txt", "text/plain; charset=utf-8", b"hello\n"),
        ("/empty.txt", "text/plain; charset=utf-8", b""),
        ("/page.html", "text/html; charset=utf-8", b"<p>page</p>"),
        ("/style.css", "text/css; charset=utf-8", b"p {}"),
        ("/data.json", "application/json; charset=utf-8", b"{}"),
        ("/blob.unknownext", "application/octet-stream", b"\x00\x01"),
        # A compressed file is what it is, not a content-encoding to undo.
        ("/archive.tar.gz", "application/gzip", b"\x1f\x8b"),
    ],
)
async def test_files_with_content_type_and_length(
    site: Path, path: str, content_type: str, body: bytes
) -> None:
    response = await get(site, path)
    assert response.status == 200
    assert response.header("content-type") == content_type
    assert response.header("content-length") == str(len(body))
    assert response.body == body
    assert response.header("content-encoding") is None


@pytest.mark.parametrize(
    ("name", "charset"),
    [
        ("notes.txt", True),
        ("page.html", True),
        ("style.css", True),
        ("app.js", True),
        ("module.mjs", True),
        ("data.json", True),
        ("image.svg", True),
        ("feed.xml", True),
        ("table.csv", True),
        ("image.png", False),
        ("font.woff2", False),
        ("archive.zip", False),
        ("notes.txt.gz", False),  # served as application/gzip: bytes, not text
        ("blob.unknownext", False),
    ],
)
async def test_text_types_say_utf_8(tmp_path: Path, name: str, charset: bool) -> None:
    import mimetypes

    (tmp_path / name).write_bytes(b"x")
    response = await get(tmp_path, "/" + name)
    content_type = response.header("content-type") or ""
    kind, _, parameters = content_type.partition(";")
    assert parameters == (" charset=utf-8" if charset else ""), content_type
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is None:
        assert kind == (guessed or "application/octet-stream")


async def test_percent_decoding_and_query_ignored(site: Path) -> None:
    response = await get(site, "/with%20space%20%C3%A9.txt?download=1&x=%2e%2e")
    assert (response.status, response.body) == (200, b"spaced\n")
    response = await get(site, "/%68ello.txt")
    assert (response.status, response.body) == (200, b"hello\n")


async def test_index_html_for_a_directory(site: Path) -> None:
    response = await get(site, "/docs/")
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.body == b"<h1>docs</h1>"


async def test_directory_without_slash_redirects(site: Path) -> None:
    response = await get(site, "/docs?page=2")
    assert response.status == 301
    assert response.header("location") == "/docs/?page=2"
    assert response.header("content-length") == "0"


async def test_redirect_never_leaves_the_site(site: Path) -> None:
    # "//docs" would be a scheme-relative URL pointing at a host named "docs".
    response = await get(site, "//docs")
    assert response.status == 301
    assert response.header("location") == "/docs/"


async def test_listing_is_html_with_escaped_names(site: Path) -> None:
    response = await get(site, "/listed/")
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("content-length") == str(len(response.body))
    text = response.text
    assert "<img" not in text
    assert f">{html.escape(EVIL_NAME)}</a>" in text
    assert f'href="{quote(EVIL_NAME, safe="")}"' in text
    assert '<a href="b.txt">b.txt</a>' in text
    assert '<a href="sub/">sub/</a>' in text
    assert '<a href="../">../</a>' in text
    # Directories first, then files, each sorted.
    assert text.index("sub/") < text.index("b.txt")
    # The listed names can be fetched back by their links.
    href = re.search(r'href="(%3Cimg[^"]+)"', text)
    assert href is not None
    fetched = await get(site, "/listed/" + html.unescape(href.group(1)))
    assert (fetched.status, fetched.body) == (200, b"x")


async def test_root_listing_has_no_parent_link(site: Path) -> None:
    response = await get(site, "/")
    assert response.status == 200
    assert "../" not in response.text
    assert '<a href="docs/">docs/</a>' in response.text
    assert '<a href="with%20space%20%C3%A9.txt">with space é.txt</a>' in response.text


def listed_hrefs(page: str) -> list[str]:
    """The links of a listing's rows, in order, without the parent link."""
    return [html.unescape(h) for h in re.findall(r'<td class="name"><a href="([^"]*)"', page)][
        page.count('href="../"') :
    ]


async def test_listing_leaves_out_what_a_request_would_refuse(site: Path) -> None:
    listed = site / "listed"
    (listed / "link-out").symlink_to(site.parent / "secret.txt")
    (listed / "dir-link-out").symlink_to(site.parent)
    (listed / "broken-link").symlink_to(site / "nowhere")
    (listed / ".hidden").write_text("dot")
    (listed / ".hidden-dir").mkdir()
    os.mkfifo(listed / "fifo")
    (listed / "link-in").symlink_to(site / "hello.txt")
    (listed / "dir-link-in").symlink_to(site / "docs")
    async with connect(trio_h2.serve_directory(site)) as client:
        page = (await client.get("/listed/")).text
        hrefs = listed_hrefs(page)
        assert sorted(hrefs) == sorted(
            ["b.txt", quote(EVIL_NAME, safe=""), "sub/", "link-in", "dir-link-in/"]
        )
        # What is listed can be fetched; what is not, cannot.
        for href in hrefs:
            assert (await client.get("/listed/" + href)).status == 200, href
        for name in (
            "link-out",
            "dir-link-out/",
            "broken-link",
            ".hidden",
            ".hidden-dir/",
            "fifo",
        ):
            assert name not in page
            assert (await client.get("/listed/" + name)).status == 404, name
    async with connect(trio_h2.serve_directory(site, dotfiles=True)) as client:
        hrefs = listed_hrefs((await client.get("/listed/")).text)
    assert ".hidden" in hrefs
    assert ".hidden-dir/" in hrefs
    assert "link-out" not in hrefs


async def test_listing_shows_size_and_modification_time(tmp_path: Path) -> None:
    moment = 1_614_834_367  # 2021-03-04 05:06:07 UTC
    (tmp_path / "small.txt").write_bytes(b"abc")
    (tmp_path / "kilo.bin").write_bytes(b"k" * 1536)
    (tmp_path / "mega.bin").write_bytes(b"m" * (5 * 1024 * 1024 + 300 * 1024))
    (tmp_path / "folder").mkdir()
    (tmp_path / "alias.txt").symlink_to(tmp_path / "kilo.bin")
    for name in ("small.txt", "kilo.bin", "mega.bin", "folder"):
        os.utime(tmp_path / name, (moment, moment))
    page = (await get(tmp_path, "/")).text
    rows = dict(re.findall(r'<tr><td class="name"><a href="([^"]+)">.*?</a></td>(.*?)</tr>', page))
    when = '<td class="time"><time datetime="2021-03-04T05:06:07Z">2021-03-04 05:06</time></td>'
    assert rows["small.txt"] == f'<td class="size">3 B</td>{when}'
    assert rows["kilo.bin"] == f'<td class="size" title="1,536 bytes">1.5 KiB</td>{when}'
    assert rows["mega.bin"] == f'<td class="size" title="5,550,080 bytes">5.3 MiB</td>{when}'
    assert rows["folder/"] == f'<td class="size">\u2014</td>{when}'
    # A link inside the root is listed as what it leads to, as it is served.
    assert rows["alias.txt"] == rows["kilo.bin"]
    assert "<footer>1 directory, 4 files</footer>" in page


def test_sizes_are_short() -> None:
    sizes = [0, 1023, 1024, 1536, 1024 * 1024 - 1, 10 * 1024**3, 3 * 1024**5]
    assert [_files._human_size(size) for size in sizes] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "1.0 MiB",
        "10.0 GiB",
        "3.0 PiB",
    ]


async def test_listing_sorts_directories_first_ignoring_case(tmp_path: Path) -> None:
    for name in ("b.txt", "A.txt", "c.txt"):
        (tmp_path / name).write_text(name)
    for name in ("zed", "Beta", "alpha"):
        (tmp_path / name).mkdir()
    page = (await get(tmp_path, "/")).text
    assert listed_hrefs(page) == ["alpha/", "Beta/", "zed/", "A.txt", "b.txt", "c.txt"]


async def test_listing_is_a_valid_html5_page_without_scripts(site: Path) -> None:
    import html5lib

    listed = site / "listed" / "sub"
    (listed / "quote\"and'apostrophe.txt").write_text("q")
    (listed / "<td><script>alert(1)<!--").mkdir()
    (listed / os.fsdecode(b"latin-1 \xe9.txt")).write_text("not UTF-8")
    for path in ("/", "/listed/", "/listed/sub/"):
        response = await get(site, path)
        assert response.status == 200
        # strict: any HTML5 parse error (a stray tag, a bad attribute) raises.
        document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
            response.body
        )
        assert document.find("head/title").text == f"Index of {path}"
        assert document.find("body/h1").text == f"Index of {path}"
        assert document.find("head/style") is not None
        assert document.find(".//script") is None
        assert not [
            name
            for element in document.iter()
            for name in element.attrib
            if name.lower().startswith("on")
        ]
        headers = [th.text for th in document.findall("body/table/thead/tr/th")]
        assert headers == ["Name", "Size", "Modified (UTC)"]
        links = [a.get("href") for a in document.findall("body/table/tbody/tr/td/a")]
        assert (links[0] == "../") == (path != "/")
    names = [a.text for a in document.findall("body/table/tbody/tr/td/a")]
    assert names == [
        "../",
        "<td><script>alert(1)<!--/",
        "latin-1 \ufffd.txt",
        "quote\"and'apostrophe.txt",
    ]


async def test_listing_and_index_can_be_turned_off(site: Path) -> None:
    handler = trio_h2.serve_directory(site, index=None, listing=False)
    async with connect(handler) as client:
        assert (await client.get("/docs/")).status == 404
        assert (await client.get("/docs/guide.txt")).status == 200


async def test_missing_files_are_404(site: Path) -> None:
    for path in ("/nope.txt", "/docs/nope/", "/hello.txt/", "/hello.txt/x", "/nope/"):
        response = await get(site, path)
        assert response.status == 404, path
        assert response.header("content-length") == str(len(response.body))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_other_methods_are_405(site: Path, method: str) -> None:
    response = await get(site, "/hello.txt", method)
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD"


async def test_head_has_headers_and_no_body(site: Path) -> None:
    get_response = await get(site, "/hello.txt")
    head_response = await get(site, "/hello.txt", "HEAD")
    assert head_response.status == 200
    assert head_response.body == b""
    assert head_response.header("content-length") == "6"
    for name in ("content-type", "etag", "last-modified"):
        assert head_response.header(name) == get_response.header(name)
    listing = await get(site, "/listed/", "HEAD")
    assert listing.status == 200
    assert listing.body == b""
    assert int(listing.header("content-length") or 0) > 0


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "//../secret.txt",
        "/./../secret.txt",
        "/%252e%252e/secret.txt",
        "/link-out",
        "/link-out/secret.txt",
        "/dir-link-out/secret.txt",
        "/" + str(Path(__file__).resolve()),
        "//" + str(Path(__file__).resolve()),
        "/%2f" + "%2f".join(Path(__file__).resolve().parts[1:]),
    ],
)
async def test_traversal_never_reaches_outside(site: Path, path: str) -> None:
    (site / "link-out").symlink_to(site.parent / "secret.txt")
    (site / "dir-link-out").symlink_to(site.parent)
    response = await get(site, path)
    assert response.status in (400, 404), path
    assert b"SECRET" not in response.body
    assert b"import" not in response.body


@pytest.mark.parametrize("path", ["/hello.txt%00", "/hello.txt%00.png", "/%00/x"])
async def test_nul_byte_is_400(site: Path, path: str) -> None:
    response = await get(site, path)
    assert response.status == 400


async def test_relative_target_is_refused(site: Path) -> None:
    # RFC 9113 §8.3.1: such a request is malformed, so the server resets it before
    # any handler runs; the file handler refuses it too, should it ever get one.
    with pytest.raises(trio_h2.StreamReset) as info:
        await get(site, "hello.txt")
    assert info.value.error_code == ErrorCodes.PROTOCOL_ERROR
    reply = _split_target("hello.txt", False)
    assert isinstance(reply, _Reply)
    assert reply.status == 400


async def test_symlinks_inside_the_root_are_followed(site: Path) -> None:
    (site / "alias.txt").symlink_to(site / "hello.txt")
    (site / "alias-dir").symlink_to(site / "docs")
    response = await get(site, "/alias.txt")
    assert (response.status, response.body) == (200, b"hello\n")
    response = await get(site, "/alias-dir/guide.txt")
    assert (response.status, response.body) == (200, b"guide\n")


async def test_special_files_are_not_served(site: Path) -> None:
    os.mkfifo(site / "fifo")
    response = await get(site, "/fifo")
    assert response.status == 404


async def test_root_must_be_a_directory(site: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        trio_h2.serve_directory(site / "hello.txt")


async def test_large_file_is_byte_exact(site: Path) -> None:
    payload = os.urandom(3 * 1_048_576 + 12_345)
    (site / "big.bin").write_bytes(payload)
    response = await get(site, "/big.bin")
    assert response.status == 200
    assert response.header("content-length") == str(len(payload))
    assert response.body == payload


async def test_large_file_is_streamed_not_read_whole(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 4 * 1_048_576
    (site / "big.bin").write_bytes(b"z" * size)
    opened: list[IO[bytes]] = []
    open_regular = _files._open_regular

    def spy(path: str) -> IO[bytes]:
        opened.append(open_regular(path))
        return opened[-1]

    monkeypatch.setattr(_files, "_open_regular", spy)

    async with (
        connect(trio_h2.serve_directory(site)) as client,
        client.stream("GET", "/big.bin") as response,
    ):
        chunks = response.aiter_bytes()
        first = await chunks.__anext__()
        # The client holds its window shut: the server stops reading the file.
        await trio.testing.wait_all_tasks_blocked()
        (file,) = opened
        position = file.tell()
        assert len(first) < position < size
        received = len(first) + sum([len(chunk) async for chunk in chunks])
    assert received == size
    assert file.closed


async def validators(site: Path, path: str = "/hello.txt") -> tuple[str, str]:
    """The etag and last-modified a plain GET of ``path`` answers with."""
    first = await get(site, path)
    etag = first.header("etag")
    last_modified = first.header("last-modified")
    assert etag is not None
    assert last_modified is not None
    return etag, last_modified


async def test_conditional_requests(site: Path) -> None:
    etag, last_modified = await validators(site)
    assert etag.startswith('"')

    for condition in (
        [("if-none-match", etag)],
        [("if-none-match", f'"other", W/{etag}')],
        [("if-none-match", "*")],
        [("if-modified-since", last_modified)],
        [("if-modified-since", formatdate(2**31, usegmt=True))],
    ):
        response = await get(site, "/hello.txt", headers=condition)
        assert response.status == 304, condition
        assert response.body == b""
        assert response.header("etag") == etag
        assert response.header("content-length") == "6"

    for condition in (
        [("if-none-match", '"other"')],
        # If-None-Match wins over If-Modified-Since.
        [("if-none-match", '"other"'), ("if-modified-since", last_modified)],
        [("if-modified-since", formatdate(0, usegmt=True))],
        [("if-modified-since", "not a date")],
    ):
        response = await get(site, "/hello.txt", headers=condition)
        assert (response.status, response.body) == (200, b"hello\n"), condition

    os.utime(site / "hello.txt", ns=(10**18, 10**18))
    response = await get(site, "/hello.txt", headers=[("if-none-match", etag)])
    assert response.status == 200
    assert response.header("etag") != etag


async def test_dotfiles_are_hidden_unless_asked_for(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    (tmp_path / "visible.txt").write_text("hi")
    async with connect(trio_h2.serve_directory(tmp_path)) as client:
        env = await client.get("/.env")
        git = await client.get("/.git/config")
        encoded = await client.get("/%2egit/config")
        listing = await client.get("/")
    assert (env.status, git.status, encoded.status) == (404, 404, 404)
    assert b"visible.txt" in listing.body
    assert b".env" not in listing.body
    assert b".git" not in listing.body
    async with connect(trio_h2.serve_directory(tmp_path, dotfiles=True)) as client:
        env = await client.get("/.env")
        listing = await client.get("/")
    assert env.body == b"SECRET=1"
    assert b".env" in listing.body


# ------------------------------------------------------------- RFC 9110 §14 ranges


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=10-", 10, 25),
        ("bytes=-6", 20, 25),
        ("bytes=-100", 0, 25),  # a suffix longer than the file is the whole file
        ("bytes=20-999", 20, 25),  # the last position is clipped to the end
        ("bytes=25-25", 25, 25),
        ("BYTES = 3 - 5", 3, 5),
    ],
)
async def test_one_range_is_206(site: Path, spec: str, first: int, last: int) -> None:
    data = bytes(range(97, 97 + 26))  # a..z
    (site / "abc.txt").write_bytes(data)
    response = await get(site, "/abc.txt", headers=[("range", spec)])
    assert response.status == 206
    assert response.body == data[first : last + 1]
    assert response.header("content-range") == f"bytes {first}-{last}/26"
    assert response.header("content-length") == str(last - first + 1)
    assert response.header("accept-ranges") == "bytes"


@pytest.mark.parametrize("spec", ["bytes=26-", "bytes=1000-2000", "bytes=-0"])
async def test_a_range_past_the_end_is_416(site: Path, spec: str) -> None:
    (site / "abc.txt").write_bytes(b"x" * 26)
    response = await get(site, "/abc.txt", headers=[("range", spec)])
    assert response.status == 416
    assert response.header("content-range") == "bytes */26"


@pytest.mark.parametrize(
    "spec", ["bytes=0-1,5-6", "items=0-1", "bytes=5-3", "bytes=a-b", "bytes=-", "bytes", "0-1"]
)
async def test_ranges_we_ignore_get_the_whole_file(site: Path, spec: str) -> None:
    response = await get(site, "/hello.txt", headers=[("range", spec)])
    assert (response.status, response.body) == (200, b"hello\n")
    assert response.header("content-range") is None


async def test_if_range_applies_the_range_only_to_the_same_version(site: Path) -> None:
    etag, last_modified = await validators(site)
    ranged = [("range", "bytes=1-3")]
    for same in (etag, last_modified):
        response = await get(site, "/hello.txt", headers=[*ranged, ("if-range", same)])
        assert (response.status, response.body) == (206, b"ell"), same
    for other in ('"other"', f"W/{etag}", formatdate(0, usegmt=True)):
        response = await get(site, "/hello.txt", headers=[*ranged, ("if-range", other)])
        assert (response.status, response.body) == (200, b"hello\n"), other


async def test_head_ignores_range_and_not_modified_wins(site: Path) -> None:
    head = await get(site, "/hello.txt", "HEAD", headers=[("range", "bytes=0-1")])
    assert (head.status, head.header("content-length")) == (200, "6")
    assert head.header("accept-ranges") == "bytes"
    etag = head.header("etag")
    assert etag is not None
    response = await get(
        site, "/hello.txt", headers=[("range", "bytes=0-1"), ("if-none-match", etag)]
    )
    assert response.status == 304


async def test_a_large_range_is_streamed_byte_exact(site: Path) -> None:
    payload = os.urandom(3 * 1_048_576)
    (site / "big.bin").write_bytes(payload)
    response = await get(site, "/big.bin", headers=[("range", "bytes=100000-2999999")])
    assert response.status == 206
    assert response.body == payload[100_000:3_000_000]


async def test_a_file_that_shrinks_under_a_range_resets_the_stream(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / "big.bin").write_bytes(b"q" * 200_000)
    real_range = _files._FileRange

    def shrinking(file: IO[bytes], start: int, length: int) -> _files._FileRange:
        os.truncate(site / "big.bin", 1000)  # after the stat, before the reads
        return real_range(file, start, length)

    monkeypatch.setattr(_files, "_FileRange", shrinking)
    async with connect(trio_h2.serve_directory(site)) as client:
        with pytest.raises(trio_h2.StreamReset):
            await client.get("/big.bin", [("range", "bytes=0-149999")])
        assert (await client.get("/hello.txt")).status == 200
