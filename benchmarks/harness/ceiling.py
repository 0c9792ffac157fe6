"""How fast the WebSocket client goes when the server costs next to nothing: its ceiling.

The WS row means something only while the client has room to spare.  ``ws_reference.py``
echoes a whole read with one ``bytes.replace``, so against it the client does nearly all the
work there is: the rate it reaches is about the most any server could show in the row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .environment import Environment
from .servers import HOST, ServerSpec, running
from .workloads import LoadResult, Workload, run_ws_client

REFERENCE = Path(__file__).resolve().with_name("ws_reference.py")
#: Messages against the reference echo, which answers about a million a second.
CEILING_MESSAGES = {"full": 2_000_000, "quick": 500_000, "smoke": 50_000}


def _reference(env: Environment, port: int, workload: Workload) -> list[str]:
    return [env.python, str(REFERENCE), "--host", HOST, "--port", str(port)]


REFERENCE_SPEC = ServerSpec("ws-reference", "reference echo", _reference, lambda env: None)


def ceiling_workload(workload: Workload, mode: str) -> Workload:
    """The WS row at the size its ceiling is measured with in ``mode``."""
    return replace(workload, requests=CEILING_MESSAGES[mode])


def measure_ceiling(workload: Workload, env: Environment, *, timeout: float) -> LoadResult:
    log_path = env.fixtures.logs / "ws-reference.log"
    with running(REFERENCE_SPEC, env, workload, log_path=log_path) as server:
        return run_ws_client(
            workload,
            server.port,
            prefix=env.client_prefix(),
            timeout=timeout,
            # The reference echo rewrites headers only: the payloads must go unmasked.
            extra_args=("--null-mask",),
        )


def describe_ceiling(workload: Workload, result: LoadResult) -> str:
    cpu = "?" if result.cpu_share is None else f"{result.cpu_share:.0%}"
    text = (
        f"{workload.command()} --null-mask against the reference echo: "
        f"{result.rate:,.0f} msg/s, the client at {cpu} of a core, "
        f"{result.failures} failed"
    )
    if result.errors:
        text += f" ({'; '.join(result.errors)})"
    return text
