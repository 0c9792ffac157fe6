"""From runs to results: medians and ratios, the printed table, the JSON file and the chart."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bench import Run
from .servers import BASELINE, ServerSpec
from .workloads import Workload

NOTE_WIDTH = 60


@dataclass(frozen=True)
class Row:
    """One server on one workload, over every round."""

    workload: str
    server: str
    label: str
    unit: str
    #: Median over the rounds that gave statistics.
    median: float | None
    mean_latency_ms: float | None
    peak_rss_mib: float | None
    #: The load generator's highest CPU share over the rounds (1.0: a whole core): near
    #: 1.0 it, not the server, would be the limit.
    client_cpu: float | None
    #: Requests that did not get a 2xx/3xx answer (messages not echoed back intact), over
    #: all rounds.
    failures: int
    #: Requests (messages) that did, over all rounds.
    requests: int
    rounds: int
    #: ``median`` over the baseline's median on the same workload.
    ratio: float | None
    #: Errors of the rounds, if any.
    note: str | None
    #: Why the server did not run at all (not installed, say).
    skipped: str | None


def summarise(
    runs: Sequence[Run],
    specs: Sequence[ServerSpec],
    workloads: Sequence[Workload],
    skipped: Mapping[str, str],
) -> list[Row]:
    rows = []
    for workload in workloads:
        baseline = _median([r for r in runs if (r.workload, r.server) == (workload.id, BASELINE)])
        for spec in specs:
            if not spec.runs(workload.id):
                continue
            mine = [r for r in runs if (r.workload, r.server) == (workload.id, spec.id)]
            rows.append(_row(workload, spec, mine, baseline, skipped.get(spec.id)))
    return rows


def _row(
    workload: Workload,
    spec: ServerSpec,
    runs: Sequence[Run],
    baseline: float | None,
    skip_reason: str | None,
) -> Row:
    measured = [r for r in runs if r.rate is not None]
    median = _median(runs)
    latencies = [r.latency_mean_ms for r in measured if r.latency_mean_ms is not None]
    rss = [r.peak_rss_kib for r in measured if r.peak_rss_kib is not None]
    cpu = [r.client_cpu for r in measured if r.client_cpu is not None]
    errors = list(dict.fromkeys(r.error for r in runs if r.error))
    note = "; ".join(errors) or None
    if runs and len(measured) < len(runs):
        note = f"{len(runs) - len(measured)}/{len(runs)} rounds failed: {note}"
    return Row(
        workload=workload.id,
        server=spec.id,
        label=spec.label,
        unit=workload.unit,
        median=median,
        mean_latency_ms=statistics.fmean(latencies) if latencies else None,
        peak_rss_mib=max(rss) / 1024 if rss else None,
        client_cpu=max(cpu) if cpu else None,
        failures=sum(r.failures for r in runs),
        requests=sum(r.succeeded for r in runs),
        rounds=len(measured),
        ratio=median / baseline if median is not None and baseline else None,
        note=note,
        skipped=skip_reason,
    )


def _median(runs: Sequence[Run]) -> float | None:
    rates = [r.rate for r in runs if r.rate is not None]
    return statistics.median(rates) if rates else None


def format_table(rows: Sequence[Row], workloads: Sequence[Workload]) -> str:
    """One line per server and workload that ran, then one per server that did not."""
    titles = {w.id: f"{w.id} {w.title}" for w in workloads}
    header = (
        "workload", "server", "median", "unit", "lat ms", "RSS MiB", "client CPU", "fail",
        "ratio", "note",
    )  # fmt: skip
    skipped = {row.label: row.skipped for row in rows if row.skipped}
    rows = [row for row in rows if not row.skipped]
    body = []
    for row in rows:
        precision = 1 if row.unit == "MiB/s" else 0
        body.append(
            (
                titles[row.workload],
                row.label,
                _num(row.median, precision),
                row.unit,
                _num(row.mean_latency_ms, 2),
                _num(row.peak_rss_mib, 1),
                "-" if row.client_cpu is None else f"{row.client_cpu:.0%}",
                str(row.failures) if row.rounds or row.failures else "-",
                "-" if row.ratio is None else f"{row.ratio:.2f}x",
                _clip(row.note or ""),
            )
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {2, 4, 5, 6, 7, 8}

    def render(line: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines = [render(header), render(["-" * w for w in widths])]
    previous = None
    for row, line in zip(rows, body, strict=True):
        if previous is not None and row.workload != previous:
            lines.append("")
        lines.append(render(line))
        previous = row.workload
    if skipped:
        lines.append("")
        lines.extend(f"not run: {label}: {reason}" for label, reason in skipped.items())
    return "\n".join(lines)


def _num(value: float | None, precision: int) -> str:
    return "-" if value is None else f"{value:,.{precision}f}"


def _clip(text: str) -> str:
    return text if len(text) <= NOTE_WIDTH else text[: NOTE_WIDTH - 3] + "..."


def results_document(
    *,
    meta: Mapping[str, Any],
    workloads: Sequence[Workload],
    specs: Sequence[ServerSpec],
    skipped: Mapping[str, str],
    rows: Sequence[Row],
    runs: Sequence[Run],
) -> dict[str, Any]:
    return {
        **meta,
        "baseline": BASELINE,
        "workloads": [{**dataclasses.asdict(w), "command": w.command()} for w in workloads],
        "servers": [
            {"id": s.id, "label": s.label, "skipped": skipped.get(s.id), "only": s.only}
            for s in specs
        ],
        "summary": [dataclasses.asdict(row) for row in rows],
        "runs": [{**dataclasses.asdict(run), "failures": run.failures} for run in runs],
    }


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def format_markdown(
    rows: Sequence[Row], workloads: Sequence[Workload], specs: Sequence[ServerSpec]
) -> str:
    """The results as Markdown tables, workloads down and servers across, for README.md."""
    ran = {row.label for row in rows if not row.skipped}
    servers = [spec.label for spec in specs if spec.label in ran]
    cell = {(row.workload, row.label): row for row in rows if not row.skipped}
    head = "| workload | " + " | ".join(servers) + " |"
    rule = "|---" * (len(servers) + 1) + "|"
    throughput, memory = [head, rule], [head, rule]
    for workload in workloads:
        title = f"{workload.id} {workload.title} (`{workload.command()}`)"
        rates, rss = [], []
        for label in servers:
            row = cell.get((workload.id, label))
            if row is None or row.median is None:
                rates.append("" if row is None else "failed")
                rss.append("")
                continue
            precision = 1 if row.unit == "MiB/s" else 0
            text = f"{row.median:,.{precision}f} {row.unit}"
            if row.ratio is not None and row.server != BASELINE:
                text += f" **{row.ratio:.2f}x**"
            if row.failures:
                text += f" ({row.failures} failed)"
            rates.append(text)
            rss.append(_num(row.peak_rss_mib, 1))
        throughput.append(f"| {title} | " + " | ".join(rates) + " |")
        memory.append(f"| {workload.id} | " + " | ".join(rss) + " |")
    return "\n".join(
        [
            f"Median throughput, and ratio to {BASELINE}:",
            "",
            *throughput,
            "",
            "Peak resident memory of the server, MiB:",
            "",
            *memory,
            "",
        ]
    )


def write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plot_ratios(
    rows: Sequence[Row],
    workloads: Sequence[Workload],
    specs: Sequence[ServerSpec],
    title: str,
    path: Path,
) -> str | None:
    """A bar chart of the ratios to the baseline; None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "matplotlib is not installed"
    measured = {r.server for r in rows if r.ratio is not None}
    servers = [(spec.id, spec.label) for spec in specs if spec.id in measured]
    if not servers:
        return f"no ratios: {BASELINE} gave no results"
    ratio = {(r.workload, r.server): r.ratio for r in rows if r.ratio is not None}
    # A colour per server across the groups; each group only as wide as its servers.
    colours = {server: f"C{i % 10}" for i, (server, _) in enumerate(servers)}
    fig, ax = plt.subplots(figsize=(max(11, 1.6 * len(workloads)), 5.5))
    labelled: set[str] = set()
    for x, workload in enumerate(workloads):
        present = [(s, label) for s, label in servers if (workload.id, s) in ratio]
        width = 0.8 / max(len(present), 1)
        for i, (server, label) in enumerate(present):
            value = ratio[(workload.id, server)]
            bars = ax.bar(
                x - 0.4 + width * (i + 0.5),
                value,
                width,
                color=colours[server],
                label=None if server in labelled else label,
            )
            labelled.add(server)
            ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=2)
    # Ratios are factors, and nghttpd's are far above the Python servers': a log scale.
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(
        range(len(workloads)),
        [f"{w.id}\n{textwrap.fill(w.title, 24)}" for w in workloads],
        fontsize=7,
    )
    ax.set_ylabel(f"throughput / {BASELINE}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return None
