"""``python -m trio_h2`` serving ASGI applications, as a real process reached with curl."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.test_cli import REPO, assert_usage_error, cli, fetch, run_cli

pytestmark = pytest.mark.interop

APPS = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            print("lifespan startup", flush=True)
            scope["state"]["started"] = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            print("lifespan shutdown", flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = {
            "path": scope["path"],
            "root_path": scope["root_path"],
            "state": scope.get("state"),
            "server_port": scope["server"][1],
            "http_version": scope["http_version"],
        }
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        import json
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    def make_app():
        return app

    def make_with_arguments(debug):
        return app

    async def failing(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    async def two_arguments(scope, receive):
        pass

    class Instance:
        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 200})
                await send({"type": "http.response.body", "body": b"from an instance"})
            else:
                raise RuntimeError("no lifespan")

    instance = Instance()
    """
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "asgiapps.py").write_text(APPS)
    return tmp_path


async def test_the_starlette_test_application(curl: str) -> None:
    async with cli("--asgi", "tests.asgi.apps:app", cwd=REPO) as server:
        match = await server.wait_serving()
        assert match["what"] == "tests.asgi.apps:app (ASGI)"
        body, status = await fetch(curl, server.url + "/state")
        assert status == "200 1.1"
        assert json.loads(body)["greeting"] == "hello from the lifespan"
        body, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/")
        assert (body, status) == ("hello from starlette\n", "200 2")
        assert await server.stop() == 0
    assert '"GET /state HTTP/1.1" 200' in server.stderr.text


async def test_an_asgi_signature_is_recognised_and_the_lifespan_runs(
    site: Path, curl: str
) -> None:
    async with cli("asgiapps:app", cwd=site) as server:
        await server.wait_serving()
        await server.stdout.wait_for("lifespan startup")
        body, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/x")
        assert status == "200 2"
        assert json.loads(body) == {
            "path": "/x",
            "root_path": "",
            "state": {"started": True},
            "server_port": server.port,
            "http_version": "2",
        }
        assert await server.stop() == 0
        await server.stdout.wait_for("lifespan shutdown")
    lines = server.stdout.lines
    assert lines.index("lifespan startup") < next(
        i for i, line in enumerate(lines) if line.startswith("Serving")
    )


async def test_an_instance_without_lifespan_support(site: Path, curl: str) -> None:
    async with cli("asgiapps:instance", cwd=site) as server:
        await server.wait_serving()
        body, status = await fetch(curl, server.url + "/")
        assert (body, status) == ("from an instance", "200 1.1")
        assert await server.stop() == 0


async def test_factory_and_root_path(site: Path, curl: str) -> None:
    async with cli("--factory", "--root-path", "/api", "asgiapps:make_app", cwd=site) as server:
        await server.wait_serving()
        body, _ = await fetch(curl, server.url + "/items")
        assert json.loads(body)["path"] == "/api/items"
        assert json.loads(body)["root_path"] == "/api"
        assert await server.stop() == 0


async def test_a_failed_startup_stops_the_command(site: Path) -> None:
    result = await run_cli("--port", "0", "asgiapps:failing", cwd=site)
    assert result.returncode == 1
    assert "error: the application's startup failed: no database" in result.stderr.decode()
    assert b"Serving" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--asgi", "asgiapps:two_arguments"],
            "'asgiapps:two_arguments' takes (scope, receive); "
            "ASGI applications take (scope, receive, send)",
        ),
        (
            ["asgiapps:two_arguments"],
            "'asgiapps:two_arguments' takes (scope, receive); "
            "trio_h2 handlers take one argument, a trio_h2.Stream",
        ),
        (
            ["--factory", "asgiapps:make_with_arguments"],
            "'asgiapps:make_with_arguments' takes (debug); a --factory takes no arguments",
        ),
        (["--asgi"], "--asgi needs a MODULE:HANDLER to serve"),
        (["--root-path", "/api"], "--root-path needs an ASGI application (MODULE:APP) to serve"),
        (["--root-path", "api", "asgiapps:app"], "--root-path starts with '/', not 'api'"),
    ],
    ids=["asgi-signature", "neither", "factory-arguments", "asgi-alone", "root-alone", "root"],
)
async def test_usage_errors(site: Path, args: list[str], message: str) -> None:
    assert_usage_error(await run_cli(*args, cwd=site), message)


async def test_help_documents_the_asgi_options(site: Path) -> None:
    result = await run_cli("--help", cwd=site)
    assert result.returncode == 0
    for option in ("--asgi", "--factory", "--root-path", "ASGI"):
        assert option in result.stdout.decode()
