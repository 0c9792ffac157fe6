"""The measurement loop: rounds of workloads, every server in turn, each on a fresh process."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .environment import Environment
from .servers import ServerSpec, ServerStartError, log_tail, running
from .workloads import LoadError, Workload, run_load


@dataclass(frozen=True)
class Run:
    """One workload against one server in one round."""

    round: int
    workload: str
    server: str
    requested: int = 0
    succeeded: int = 0
    elapsed_s: float | None = None
    #: req/s, MiB/s for the 1 MiB workloads, msg/s for WebSockets; None when the load
    #: generator gave no statistics.
    rate: float | None = None
    latency_mean_ms: float | None = None
    peak_rss_kib: int | None = None
    #: The load generator's CPU time over the measured time (1.0: a whole core).
    client_cpu: float | None = None
    error: str | None = None

    @property
    def failures(self) -> int:
        return self.requested - self.succeeded


def warm_up_requests(workload: Workload) -> int:
    return max(workload.clients, min(workload.requests // 20, 1_000))


def run_matrix(
    specs: Sequence[ServerSpec],
    workloads: Sequence[Workload],
    env: Environment,
    *,
    rounds: int,
    timeout: float,
) -> list[Run]:
    """For each round and workload, every server in turn; each round starts one server later."""
    runs = []
    for round_ in range(1, rounds + 1):
        shift = (round_ - 1) % max(len(specs), 1)
        order = [*specs[shift:], *specs[:shift]]
        for workload in workloads:
            for spec in order:
                if not spec.runs(workload.id):
                    continue
                run = run_one(spec, workload, env, round_=round_, timeout=timeout)
                _progress(run, workload, rounds)
                runs.append(run)
    return runs


def run_one(
    spec: ServerSpec, workload: Workload, env: Environment, *, round_: int, timeout: float
) -> Run:
    # Until the load generator reports otherwise, every request of the cell counts as failed.
    cell = Run(round_, workload.id, spec.id, requested=workload.requests)
    if workload.tls and env.fixtures.certfile is None:
        return replace(cell, error=env.fixtures.tls_error)
    log_path = env.fixtures.logs / f"{spec.id}-{workload.id}-r{round_}.log"
    client = env.client_prefix(spec.pinned)
    upload = env.fixtures.upload_file
    try:
        with running(spec, env, workload, log_path=log_path) as server:
            try:
                run_load(
                    workload,
                    server.port,
                    upload_file=upload,
                    prefix=client,
                    timeout=timeout,
                    requests=warm_up_requests(workload),
                )
                result = run_load(
                    workload, server.port, upload_file=upload, prefix=client, timeout=timeout
                )
            except LoadError as exc:
                # The log as it was during the run, before the server is stopped.
                tail = log_tail(log_path)
                return replace(cell, error=f"{exc}" + (f"; server log: {tail}" if tail else ""))
            rss = server.peak_rss_kib()
            exited = server.process.poll()
    except ServerStartError as exc:
        return replace(cell, error=f"server: {exc}")
    errors = list(result.errors)
    if exited is not None:
        errors.append(f"server exited with status {exited} during the run: {log_tail(log_path)}")
    return replace(
        cell,
        requested=result.requested,
        succeeded=result.succeeded,
        elapsed_s=result.elapsed_s,
        rate=result.rate,
        latency_mean_ms=result.latency_mean_ms,
        peak_rss_kib=rss,
        client_cpu=result.cpu_share,
        error="; ".join(errors) or None,
    )


def _progress(run: Run, workload: Workload, rounds: int) -> None:
    head = f"round {run.round}/{rounds}  {run.workload}  {run.server:<20}"
    if run.rate is None:
        line = f"{head} error: {run.error}"
    else:
        line = f"{head} {run.rate:>10,.1f} {workload.unit:<5}  failures {run.failures}"
        if run.error:
            line += f"  ({run.error})"
    print(line, file=sys.stderr, flush=True)
