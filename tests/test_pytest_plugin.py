"""The pytest plugin (trio_h2/pytest_plugin.py), used as a project's own tests would use it.

Each test writes a small project with pytester (its configuration, a conftest.py,
a test module) and runs pytest on it, in this process: the fixtures come from the
``pytest11`` entry point that installing trio_h2 registers, as they would for
anyone.  The projects run with and without pytest-trio's ``trio_mode``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TRIO_MODE = """
[pytest]
trio_mode = true
addopts = -p no:cacheprovider
filterwarnings = error
"""

NO_TRIO_MODE = """
[pytest]
addopts = -p no:cacheprovider
filterwarnings = error
"""

CONFTEST = """
import pytest
import trio_h2


async def hello(stream: trio_h2.Stream) -> None:
    body = await stream.read()
    await stream.respond(200, [("content-type", "text/plain")], b"hello " + body)


@pytest.fixture
def trio_h2_handler():
    return hello
"""


def project(pytester: pytest.Pytester, ini: str, tests: str, conftest: str = CONFTEST) -> None:
    pytester.makeini(ini)
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_app=textwrap.dedent(tests))


def test_client_fixture_under_trio_mode(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        TRIO_MODE,
        """
        async def test_get(trio_h2_client):
            response = await trio_h2_client.get("/")
            assert (response.status, response.body) == (200, b"hello ")


        async def test_post(trio_h2_client):
            response = await trio_h2_client.post("/", b"world")
            assert response.text == "hello world"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_client_fixture_with_the_trio_marker_and_no_trio_mode(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        NO_TRIO_MODE,
        """
        import pytest


        @pytest.mark.trio
        async def test_get(trio_h2_client):
            response = await trio_h2_client.get("/")
            assert (response.status, response.body) == (200, b"hello ")


        @pytest.mark.trio
        async def test_connect(trio_h2_connect, trio_h2_handler):
            client = await trio_h2_connect(trio_h2_handler)
            assert (await client.post("/", "again")).text == "hello again"


        async def test_unmarked(trio_h2_client):
            pass  # never runs: without trio_mode or the marker it is no trio test
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*'test_unmarked' requested an async fixture 'trio_h2_client'*"])


def test_config_fixture_is_what_the_client_is_served_with(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        TRIO_MODE,
        """
        import pytest
        import trio_h2


        @pytest.fixture
        def trio_h2_config():
            return trio_h2.Config(max_request_body_size=4)


        async def test_body_over_the_limit_is_413(trio_h2_client):
            assert (await trio_h2_client.post("/", b"four")).status == 200
            assert (await trio_h2_client.post("/", b"five!")).status == 413
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_connect_fixture_serves_several_handlers_and_closes_them_all(
    pytester: pytest.Pytester,
) -> None:
    project(
        pytester,
        TRIO_MODE,
        """
        import trio
        import trio_h2

        ENDED = []


        def named(name):
            async def handler(stream):
                if stream.path == "/hang":
                    try:
                        await stream.respond(200, [], b"open")
                        await trio.sleep_forever()
                    finally:
                        ENDED.append(name)
                await stream.respond(200, [], name.encode())

            return handler


        async def test_two_handlers(trio_h2_connect):
            first = await trio_h2_connect(named("first"))
            second = await trio_h2_connect(named("second"), enable_push=False)
            async with trio.open_nursery() as nursery:
                for client in (first, second):
                    nursery.start_soon(client.get, "/hang")
            assert (await first.get("/")).body == b"first"
            assert (await second.get("/")).body == b"second"
            assert ENDED == []


        def test_the_connections_ended_with_the_test():
            assert sorted(ENDED) == ["first", "second"]
        """,
        conftest="",
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_client_without_a_handler_fixture_says_what_to_define(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        TRIO_MODE,
        """
        async def test_get(trio_h2_client):
            await trio_h2_client.get("/")
        """,
        conftest="",
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*trio_h2_client serves the handler of the trio_h2_handler fixture: define that*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_the_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        TRIO_MODE,
        """
        async def test_get(trio_h2_client):
            pass
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)
    # "-p no:trio_h2" takes the entry point's name: the fixtures are then unknown.
    result = pytester.runpytest("-p", "no:trio_h2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'trio_h2_client' not found*"])


MYAPP = """
import trio_h2


async def hello(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"hello\\n")
"""


def readme_testing_blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of each block in README's "Testing handlers" section."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Testing handlers\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)


def test_readme_testing_examples_run_as_written(pytester: pytest.Pytester) -> None:
    blocks = readme_testing_blocks()
    assert [language for language, _ in blocks] == ["python", "toml", "python", "python", "python"]
    # (The last, over both protocols, runs in test_testing_h1.py.)
    (_, first), (_, configuration), (_, marked), (_, fixtures), _ = blocks
    pytester.makepyfile(myapp=MYAPP)
    # With the README's configuration (trio_mode): the first example and the fixtures.
    pytester.makefile(".toml", pyproject=configuration)
    pytester.makepyfile(test_first=first, test_fixtures=fixtures)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
    # Without trio_mode: the example with the trio mark.
    (pytester.path / "pyproject.toml").unlink()
    for name in ("test_first.py", "test_fixtures.py"):
        (pytester.path / name).unlink()
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_marked=marked)
    pytester.runpytest().assert_outcomes(passed=1)
