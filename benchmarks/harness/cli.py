"""The command line: install, measure, report."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .bench import run_matrix
from .ceiling import ceiling_workload, describe_ceiling, measure_ceiling
from .environment import Environment, available_cpus
from .fixtures import make_fixtures
from .install import ensure_tools, ensure_venv, in_venv, say
from .report import (
    format_markdown,
    format_table,
    plot_ratios,
    results_document,
    summarise,
    write_json,
    write_text,
)
from .servers import server_specs
from .workloads import workloads_for

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
VENV = BENCH_DIR / ".venv"

#: Seconds one h2load run may take before it counts as an error.
TIMEOUTS = {"full": 300.0, "quick": 120.0, "smoke": 30.0}
#: Results file names: only a full run writes the committed ``latest`` files.
OUTPUT_NAMES = {"full": "latest", "quick": "quick", "smoke": "smoke"}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Compare trio_h2 with Hypercorn, Granian, uvicorn and nghttpd under h2load "
        "and a WebSocket echo client.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_const", dest="mode", const="quick",
        help="1 round of every workload at a fifth of its size",
    )  # fmt: skip
    size.add_argument(
        "--smoke", action="store_const", dest="mode", const="smoke",
        help="a few hundred requests per workload, 1 round, no installs: checks the harness",
    )  # fmt: skip
    parser.set_defaults(mode="full")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick/--smoke)")
    parser.add_argument(
        "--servers", help="comma-separated server ids to run (default: all that can run)"
    )
    parser.add_argument(
        "--workloads", help="comma-separated workload ids to run, e.g. W1,W3 (default: all)"
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="a checkout of another trio_h2 version: adds it as the server trio_h2-base, "
        "interleaved with the rest (e.g. a git worktree of the previous release)",
    )
    parser.add_argument(
        "--ws-ceiling",
        action="store_true",
        help="only measure the WebSocket client against a reference echo that does no work "
        "per message: the highest rate the WS row can show",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="use this Python and the tools already installed (implied by --smoke)",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="directory of the results"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.mode == "full" else 1
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.mode != "smoke" and not args.no_install and not in_venv(VENV):
        ensure_tools()
        python = ensure_venv(VENV, REPO_ROOT)
        say(f"running in {VENV}")
        os.execv(python, [str(python), str(BENCH_DIR / "run.py"), *raw])
    if args.ws_ceiling:
        return _ws_ceiling(args.mode)
    if shutil.which("h2load") is None:
        say("h2load is not installed (Debian: nghttp2-client)")
        return 2

    workloads = workloads_for(args.mode)
    if args.workloads:
        wanted = set(args.workloads.split(","))
        workloads = [w for w in workloads if w.id in wanted]
    cpus = available_cpus()
    specs = server_specs(workers=len(cpus), base=args.base)
    if args.servers:
        wanted = set(args.servers.split(","))
        specs = [s for s in specs if s.id in wanted]

    with tempfile.TemporaryDirectory(prefix="trio_h2-bench-") as tmp:
        env = _environment(Path(tmp), cpus)
        skipped = {spec.id: reason for spec in specs if (reason := spec.check(env))}
        for spec_id, reason in skipped.items():
            say(f"skipping {spec_id}: {reason}")
        started = time.time()
        runs = run_matrix(
            [s for s in specs if s.id not in skipped],
            workloads,
            env,
            rounds=args.rounds,
            timeout=TIMEOUTS[args.mode],
        )
        meta = {
            "schema": 2,
            "mode": args.mode,
            "rounds": args.rounds,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "machine": {
                "cpus": len(cpus),
                "pinned": env.pinned,
                "system": platform.platform(),
            },
            "versions": env.versions(),
        }

    rows = summarise(runs, specs, workloads, skipped)
    name = OUTPUT_NAMES[args.mode]
    if args.servers or args.workloads:
        name += "-partial"
    json_path = args.out / f"{name}.json"
    write_json(
        results_document(
            meta=meta, workloads=workloads, specs=specs, skipped=skipped, rows=rows, runs=runs
        ),
        json_path,
    )
    rounds = f"median of {args.rounds} rounds" if args.rounds > 1 else "1 round"
    md_path = args.out / f"{name}.md"
    write_text(format_markdown(rows, workloads, specs), md_path)
    png_path = args.out / f"{name}.png"
    title = f"HTTP/2, HTTP/1.1 and WebSocket servers ({rounds})"
    chart_error = plot_ratios(rows, workloads, specs, title, png_path)

    print(format_table(rows, workloads))
    print()
    print(f"{rounds}; ratio = throughput / Hypercorn (trio);", end=" ")
    print("server and load generator pinned to a core each" if env.pinned else "no core pinning")
    print(f"results: {json_path}, {md_path}")
    print(f"chart: {png_path}" if chart_error is None else f"no chart: {chart_error}")
    return 0


def _ws_ceiling(mode: str) -> int:
    (row,) = [w for w in workloads_for(mode) if w.protocol == "ws"]
    workload = ceiling_workload(row, mode)
    with tempfile.TemporaryDirectory(prefix="trio_h2-bench-") as tmp:
        env = _environment(Path(tmp), available_cpus())
        result = measure_ceiling(workload, env, timeout=TIMEOUTS[mode])
    print(describe_ceiling(workload, result))
    return 0 if result.failures == 0 else 1


def _environment(tmp: Path, cpus: tuple[int, ...]) -> Environment:
    return Environment(
        python=sys.executable,
        repo_root=REPO_ROOT,
        apps_dir=BENCH_DIR / "servers",
        fixtures=make_fixtures(tmp),
        cpus=cpus,
    )
