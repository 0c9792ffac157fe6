"""From runs to results: medians and ratios, the printed table, the JSON file and the chart."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
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
    #: Requests that did not get a 2xx/3xx answer, over all rounds.
    failures: int
    #: Requests that did, over all rounds.
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
    header = ("workload", "server", "median", "unit", "lat ms", "RSS MiB", "fail", "ratio", "note")
    skipped = {row.label: row.skipped for row in rows if row.skipped}
    rows = [row for row in rows if not row.skipped]
    body = []
    for row in rows:
        precision = 0 if row.unit == "req/s" else 1
        body.append(
            (
                titles[row.workload],
                row.label,
                _num(row.median, precision),
                row.unit,
                _num(row.mean_latency_ms, 2),
                _num(row.peak_rss_mib, 1),
                str(row.failures) if row.rounds or row.failures else "-",
                "-" if row.ratio is None else f"{row.ratio:.2f}x",
                _clip(row.note or ""),
            )
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {2, 4, 5, 6, 7}

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
        "workloads": [
            {**dataclasses.asdict(w), "h2load": " ".join(w.h2load_args())} for w in workloads
        ],
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


def plot_ratios(
    rows: Sequence[Row], workloads: Sequence[Workload], title: str, path: Path
) -> str | None:
    """A bar chart of the ratios to the baseline; None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "matplotlib is not installed"
    servers = list(dict.fromkeys((r.server, r.label) for r in rows if r.ratio is not None))
    if not servers:
        return f"no ratios: {BASELINE} gave no results"
    ids = [w.id for w in workloads]
    ratio = {(r.workload, r.server): r.ratio for r in rows}
    width = 0.8 / len(servers)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for i, (server, label) in enumerate(servers):
        xs, ys = [], []
        for x, workload in enumerate(ids):
            value = ratio.get((workload, server))
            if value is not None:
                xs.append(x - 0.4 + width * (i + 0.5))
                ys.append(value)
        bars = ax.bar(xs, ys, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    # Ratios are factors, and nghttpd's are far above the Python servers': a log scale.
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(ids)), [f"{w.id}\n{w.title}" for w in workloads], fontsize=8)
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
