"""Files of the visualiser: the PCA pictures, ``similarity_analysis_{name}.txt`` and ``similarity_{name}.json``.

The text report is laid out as the seed API's visualiser example: per level a banner, then per metric one line per
neighbouring pair of views and the mean +- std over the pairs (population std).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from panovlm.evaluation import dino_render as render
from panovlm.evaluation.similarity import METRIC_TEXT, METRICS, summarise

if TYPE_CHECKING:
    from panovlm.evaluation.dino import DinoVisualizer, LevelResult, PanoramaFeatures

# The feature levels the visualiser extracts, in report order, and their titles.
LEVELS: tuple[str, ...] = ("vision_encoder", "resampled_features")
LEVEL_TITLES: dict[str, str] = {"vision_encoder": "Vision Encoder", "resampled_features": "Resampled Features"}
_BANNER = "=" * 50


def _view_text(features: PanoramaFeatures, i: int) -> str:
    view = features.plan.views[i]
    return f"View {i} (yaw {view.yaw_deg:+.0f}, pitch {view.pitch_deg:+.0f})"


def level_json(result: LevelResult) -> dict[str, Any]:
    return {
        "grid": list(result.grid) if result.grid else None, "dim": result.dim,
        "pca": {"method": result.basis.method, "explained_variance": [round(e, 4) for e in result.basis.explained]},
        "pairs": [s.to_dict() for s in result.scores], "summary": summarise(result.scores),
    }


def similarity_text(name: str, features: PanoramaFeatures, results: dict[str, LevelResult],
                    viz: DinoVisualizer) -> str:
    """The seed's ``similarity_analysis`` layout (per pair, then mean +- std), every metric labelled."""
    plan = features.plan
    pairs = next(iter(results.values())).scores
    lines = [f"PanoVLM view similarity: {name}", f"image: {features.image}",
             f"plan: {plan.strategy}, {len(plan)} views; {len(pairs)} neighbouring tile pairs (adjacent pairing)",
             f"PCA: {viz.n_components} components, bg_removal {viz.bg_removal}, one basis for all views", ""]
    if not pairs:
        lines.append("no neighbouring pairs of overlapping tiles in this plan: no similarity to report")
    for level, result in results.items():
        if not pairs:
            break
        grid = f"{result.grid[0]}x{result.grid[1]} token grid" if result.grid else "queries (no token grid)"
        lines += [_BANNER, f"{LEVEL_TITLES[level]} - token-level similarity ({grid}, width {result.dim})", _BANNER, ""]
        summary = summarise(result.scores)
        for metric in METRICS:
            stats = summary[metric]
            if metric == "lpips" and stats is None:
                lines += [f"lpips: {viz.lpips_note or 'not computed'}", ""]
                continue
            if stats is None:
                why = "needs a token grid" if result.grid is None else "no pair shares token rays on this grid"
                lines += [f"{metric}: not computed ({why})", ""]
                continue
            lines.append(f"{metric}: {METRIC_TEXT[metric]}")
            for s in result.scores:
                value = s.values[metric]
                if value is None:
                    continue
                extra = f"  ({s.ray_tokens} tokens)" if metric.endswith("_ray") else ""
                lines.append(f"  {_view_text(features, s.a)} <-> {_view_text(features, s.b)}: {value:.4f}{extra}")
            lines += [f"  mean: {stats['mean']:.4f} ± {stats['std']:.4f}", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_outputs(out: Path, name: str, features: PanoramaFeatures, results: dict[str, LevelResult],
                  viz: DinoVisualizer) -> dict[str, Any]:
    """Write the pictures and, when the visualiser computes similarity, the text and JSON reports."""
    out.mkdir(parents=True, exist_ok=True)
    labels = render.view_labels(features.plan)
    files = {"original_views": out / f"original_views_{name}.png"}
    render.write_png(files["original_views"], render.grid_figure([features.views], labels))
    for level, result in results.items():
        files[level] = out / f"{level}_pca_{name}.png"
        render.write_png(files[level], render.grid_figure([result.images], labels))
    files["erp_pca"] = out / f"erp_pca_{name}.png"
    render.write_png(files["erp_pca"], erp_figure(features, results, viz.erp_width))
    report = {"name": name, "image": features.image, "plan": features.plan.to_dict(),
              "n_components": viz.n_components, "bg_removal": viz.bg_removal,
              "levels": {level: level_json(r) for level, r in results.items()},
              "lpips": viz.lpips_note or ("computed" if viz.similarity else "similarity off"),
              "extract_seconds": round(features.seconds, 3)}
    if viz.similarity:
        files["similarity_analysis"] = out / f"similarity_analysis_{name}.txt"
        files["similarity"] = out / f"similarity_{name}.json"
        files["similarity_analysis"].write_text(similarity_text(name, features, results, viz), encoding="utf-8")
        files["similarity"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    report["files"] = {k: str(v) for k, v in files.items()}
    return report


def erp_figure(features: PanoramaFeatures, results: dict[str, LevelResult], width: int,
               titles: Sequence[str] = ()) -> np.ndarray:
    """The panorama above the PCA colours of each grid level painted back onto it."""
    images, names = [render.resize_erp(features.erp, width)], ["panorama"]
    for level, result in results.items():
        if result.erp is not None:
            images.append(result.erp)
            names.append(f"{' '.join(titles)} {LEVEL_TITLES[level]} PCA on the ERP (tile token rays)".strip())
    return render.stack_figure(images, names)


def compare_outputs(out: Path, names: Sequence[str], features: Sequence[PanoramaFeatures],
                    results: Sequence[dict[str, LevelResult]], viz: DinoVisualizer) -> dict[str, Any]:
    """``--compare``: both checkpoints on one PCA basis side by side, and the similarity deltas (second - first)."""
    tag = f"{names[0]}_vs_{names[1]}"
    labels = render.view_labels(features[0].plan)
    files = {}
    for level in LEVELS:
        files[level] = out / f"compare_{level}_pca_{tag}.png"
        render.write_png(files[level], render.grid_figure([r[level].images for r in results], labels, names))
    parts, titles = [render.resize_erp(features[0].erp, viz.erp_width)], ["panorama"]
    for level in LEVELS:
        for n, r in zip(names, results, strict=True):
            if r[level].erp is not None:
                parts.append(r[level].erp)
                titles.append(f"{n}: {LEVEL_TITLES[level]} PCA")
    files["erp_pca"] = out / f"compare_erp_pca_{tag}.png"
    render.write_png(files["erp_pca"], render.stack_figure(parts, titles))
    deltas: dict[str, dict[str, Any]] = {}
    lines = [f"PanoVLM view similarity, {names[1]} minus {names[0]} (one PCA basis: shared components, each model centred on its own mean)",
             f"image: {features[0].image}", ""]
    for level in LEVELS:
        first, second = summarise(results[0][level].scores), summarise(results[1][level].scores)
        deltas[level] = {}
        lines += [_BANNER, LEVEL_TITLES[level], _BANNER]
        for metric in METRICS:
            a, b = first[metric], second[metric]
            if a is None or b is None:
                continue
            d = b["mean"] - a["mean"]
            deltas[level][metric] = {names[0]: a["mean"], names[1]: b["mean"], "delta": d}
            lines.append(f"  {metric:18s} {a['mean']:.4f} -> {b['mean']:.4f}  ({d:+.4f})")
        lines.append("")
    if viz.similarity:
        files["similarity_compare"] = out / f"similarity_compare_{tag}.txt"
        files["similarity_compare"].write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
        files["similarity_compare_json"] = out / f"similarity_compare_{tag}.json"
        files["similarity_compare_json"].write_text(json.dumps({"names": list(names), "deltas": deltas}, indent=2)
                                                    + "\n", encoding="utf-8")
    return {"files": {k: str(v) for k, v in files.items()}, "deltas": deltas}
