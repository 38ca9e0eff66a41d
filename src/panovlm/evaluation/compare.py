"""Compare evaluation runs: a markdown table, ``compare.csv`` and a bar chart ``compare.png``.

A run is a folder holding ``metrics.json`` (written by ``panovlm eval`` / ``panovlm score``). Runs are
named by their folder name (made unique by the parent folder when two share a name).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from panovlm.evaluation.metrics import METRIC_NAMES
from panovlm.evaluation.scoring import METRICS_FILE

logger = logging.getLogger(__name__)

DEFAULT_METRICS: tuple[str, ...] = (*METRIC_NAMES, "direction_f1", "direction_accuracy")


def load_runs(run_dirs: Sequence[str | Path]) -> dict[str, dict]:
    """``{run name: metrics}`` for each folder (its ``metrics.json``)."""
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    paths = [Path(d) for d in run_dirs]
    for path in paths:
        if not (path / METRICS_FILE).is_file():
            raise FileNotFoundError(f"{path} has no {METRICS_FILE}; run `panovlm eval` or `panovlm score` into it first")
    names = [p.resolve().name for p in paths]
    runs: dict[str, dict] = {}
    for path, name in zip(paths, names, strict=True):
        if names.count(name) > 1:
            name = f"{path.resolve().parent.name}/{name}"
        if name in runs:
            raise ValueError(f"run {path} is given twice")
        runs[name] = json.loads((path / METRICS_FILE).read_text())
    return runs


def comparison_rows(runs: dict[str, dict], metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[list[str], list[dict]]:
    """(metric columns present in any run, one row per run: ``{"run", "num_samples", metric: value|None}``)."""
    present = [m for m in metrics if any(isinstance(r.get(m), (int, float)) for r in runs.values())]
    rows = []
    for name, result in runs.items():
        row = {"run": name, "num_samples": result.get("num_samples")}
        row.update({m: result.get(m) if isinstance(result.get(m), (int, float)) else None for m in present})
        rows.append(row)
    return present, rows


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[dict]) -> str:
    """GitHub markdown table of :func:`comparison_rows`; skipped metrics show ``n/a``."""
    header = ["run", "num_samples", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(h)) for h in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(columns: Sequence[str], rows: Sequence[dict], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["run", "num_samples", *columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def bar_chart(columns: Sequence[str], rows: Sequence[dict], path: str | Path) -> Path:
    """One panel per metric (their scales differ: CIDEr reaches 10, the others 1), one bar per run."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("the comparison chart needs matplotlib: pip install 'panovlm[eval]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not columns:
        raise ValueError("no metric has a value in any run; nothing to plot")
    ncols = min(4, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    names = [row["run"] for row in rows]
    colours = [plt.get_cmap("tab10")(i % 10) for i in range(len(rows))]
    for ax, metric in zip(axes.flat, columns, strict=False):
        values = [row[metric] for row in rows]
        top = max([v for v in values if v is not None] + [1e-9])
        bars = ax.bar(range(len(rows)), [v or 0.0 for v in values], color=colours)
        for bar, value in zip(bars, values, strict=True):  # skipped metrics say so instead of a zero bar
            ax.annotate("n/a" if value is None else f"{value:.3g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, top * 1.15)
        ax.set_title(metric)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=7)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path,
                 metrics: Sequence[str] = DEFAULT_METRICS) -> dict:
    """Write ``out_dir/compare.csv`` and ``out_dir/compare.png``; returns ``{"markdown", "csv", "png", "rows"}``."""
    columns, rows = comparison_rows(load_runs(run_dirs), metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(columns, rows, out / "compare.csv")
    png_path = bar_chart(columns, rows, out / "compare.png")
    logger.info("wrote %s and %s", csv_path, png_path)
    return {"markdown": markdown_table(columns, rows), "csv": csv_path, "png": png_path, "rows": rows}
