"""``panovlm visualize --checkpoint CKPT --image IMG``: DINO-style PCA pictures and the view-similarity report.

The seed scripts' ``visualize_trained_model.py`` (``scripts/`` holds the same command under that name):

    panovlm visualize --checkpoint runs/tiny/vision/checkpoints/last.ckpt --image pano.jpg
    panovlm visualize --checkpoint quickstart/model --image a.jpg b.jpg --compare runs/tiny/vision/model_final

Writes to ``--output_dir`` (default ``results/trained_viz/{checkpoint_name}``) the files listed in
``panovlm.evaluation.dino``. Several images (or a folder): one sub-folder per image and
``summary_{name}.md`` / ``.json`` with the mean of every metric per image. ``--compare CKPT2``: both
checkpoints coloured with one PCA basis, side by side, with the similarity deltas.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from panovlm.data.io import ImageLoadError
from panovlm.evaluation.dino import DinoVisualizer
from panovlm.evaluation.dino_loading import CheckpointError
from panovlm.evaluation.dino_report import compare_outputs, write_outputs
from panovlm.evaluation.pca import BG_REMOVAL
from panovlm.plans import STRATEGIES

logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SUMMARY_METRICS = ("token_cosine", "token_cosine_ray", "hungarian_cosine", "linear_cka", "ssim")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="Lightning checkpoint (RUN/<stage>/checkpoints/last.ckpt, best-*.ckpt) or model folder")
    parser.add_argument("--image", type=Path, nargs="+", required=True, action="extend",
                        help="equirectangular panorama(s) (2:1), or a folder of them")
    parser.add_argument("--config", type=Path, default=None,
                        help="run config YAML or model config.json, for a checkpoint that holds no config")
    parser.add_argument("--crop_strategy", "--crop-strategy", choices=STRATEGIES, default=None,
                        help="crop strategy (default: the model's own; another one needs --allow_untrained_strategy)")
    parser.add_argument("--allow_untrained_strategy", "--allow-untrained-strategy", action="store_true",
                        help="accept a --crop_strategy the model was not trained with")
    parser.add_argument("--image_size", "--image-size", type=int, default=None,
                        help="view size in pixels (default: the model's; it must be the model's)")
    parser.add_argument("--output_dir", "--output-dir", type=Path, default=None,
                        help="output folder (default: results/trained_viz/{checkpoint_name})")
    parser.add_argument("--n_components", "--n-components", type=int, default=3, choices=(1, 2, 3),
                        help="PCA components shown as colours (3: RGB)")
    parser.add_argument("--no_cls_token", "--no-cls-token", action="store_true",
                        help="do not drop the CLS / register tokens from the PCA fit (SigLIP has none)")
    parser.add_argument("--bg_removal", "--bg-removal", choices=BG_REMOVAL, default="threshold",
                        help="background removal before colouring (default: threshold)")
    parser.add_argument("--no_similarity", "--no-similarity", action="store_true", help="skip the similarity analysis")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="device (default: auto)")
    parser.add_argument("--compare", type=Path, default=None, metavar="CKPT2",
                        help="second checkpoint: both on one PCA basis, side by side, with similarity deltas")
    parser.add_argument("--erp_width", "--erp-width", type=int, default=512, help="width of the painted ERP pictures")


def _images(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageLoadError(f"folder holds no images ({', '.join(IMAGE_SUFFIXES)})", path)
            out += found
        else:
            out.append(path)
    return out


def _visualizer(args: argparse.Namespace, checkpoint: Path) -> DinoVisualizer:
    return DinoVisualizer.from_checkpoint(
        checkpoint, config=args.config, device=args.device, crop_strategy=args.crop_strategy,
        image_size=args.image_size, allow_untrained_strategy=args.allow_untrained_strategy,
        n_components=args.n_components, bg_removal=args.bg_removal, keep_cls_token=args.no_cls_token,
        similarity=not args.no_similarity, erp_width=args.erp_width)


def run(args: argparse.Namespace) -> int:
    try:
        images = _images(args.image)
        viz = _visualizer(args, args.checkpoint)
        other = _visualizer(args, args.compare) if args.compare is not None else None
        if other is not None and other.name == viz.name:
            other.name = f"{other.name}_2"
        name = viz.name if other is None else f"{viz.name}_vs_{other.name}"
        out = args.output_dir or Path("results") / "trained_viz" / name
        reports = []
        for image in images:
            target = out if len(images) == 1 else out / image.stem
            reports.append(_one_image(viz, other, image, target))
    except (CheckpointError, ImageLoadError, FileNotFoundError, ValueError) as err:
        logger.error("%s", str(err).splitlines()[0] if str(err) else type(err).__name__)
        return 2
    if len(images) > 1:
        _write_summary(out, name, reports)
    logger.info("wrote %d panorama(s) to %s", len(images), out)
    return 0


def _one_image(viz, other, image: Path, target: Path) -> dict:
    """Outputs of one panorama; with ``other`` both models share one PCA basis per level."""
    if other is None:
        report = viz.visualize(image, target)
        return {"image": str(image), "models": {viz.name: report["levels"]}}
    if other.plan != viz.plan:
        raise ValueError(f"--compare {other.name}: its view plan ({other.plan.strategy}, {len(other.plan)} views) "
                         f"differs from {viz.name}'s ({viz.plan.strategy}, {len(viz.plan)}); compare models of one plan")
    feats = [viz.extract(image), other.extract(image)]
    bases = viz.fit(feats)
    results = [viz.analyse(feats[0], bases[0]), other.analyse(feats[1], bases[1])]
    reports = [write_outputs(target, v.name, f, r, v) for v, f, r in zip((viz, other), feats, results, strict=True)]
    compared = compare_outputs(target, [viz.name, other.name], feats, results, viz)
    return {"image": str(image), "models": {v.name: r["levels"] for v, r in zip((viz, other), reports, strict=True)},
            "deltas": compared["deltas"]}


def _write_summary(out: Path, name: str, reports: list[dict]) -> None:
    """One row per image (and model, with --compare): the mean over its neighbouring pairs of each metric, per level."""
    levels = ("vision_encoder", "resampled_features")
    header = ["image", "model"] + [f"{lv.split('_')[0]} {m}" for lv in levels for m in SUMMARY_METRICS]
    rows = []
    for report in reports:
        for model, model_levels in report["models"].items():
            cells = [Path(report["image"]).name, model]
            for level in levels:
                summary = model_levels[level]["summary"]
                for metric in SUMMARY_METRICS:
                    stats = summary.get(metric)
                    cells.append("n/a" if stats is None else f"{stats['mean']:.3f}")
            rows.append(cells)
    lines = [f"# View similarity of {name} (mean over neighbouring pairs)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"summary_{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / f"summary_{name}.json").write_text(json.dumps(
        [{"image": r["image"], "models": {m: {lv: lvs[lv]["summary"] for lv in levels} for m, lvs in r["models"].items()},
          **({"deltas": r["deltas"]} if "deltas" in r else {})} for r in reports], indent=2) + "\n", encoding="utf-8")
