"""``panovlm views IMAGE --strategy S --out DIR``: render a panorama's views so a person can look.

Writes ``view_00.png`` ... (one per view, in tensor order), ``contact_sheet.png`` (all views in a
grid, each labelled with its index, kind, yaw and pitch) and ``views.json`` (the plan: per view
kind, yaw_deg, pitch_deg, hfov_deg, vfov_deg, width, height, file).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from panovlm.data.io import ImageLoadError, load_image
from panovlm.data.projection import Projector
from panovlm.geometry import View, ViewPlan
from panovlm.plans import GLOBAL_MODES, STRATEGIES, build_view_plan

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="equirectangular panorama (2:1)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="anyres_e2p", help="crop strategy")
    parser.add_argument("--fov", type=float, default=90.0, help="tile field of view in degrees (0, 180)")
    parser.add_argument("--overlap", type=float, default=0.5, help="overlap ratio between tiles [0, 1)")
    parser.add_argument("--size", type=int, default=224, help="side of every (square) view in pixels")
    parser.add_argument("--pitch-range", type=float, nargs=2, default=(-45.0, 45.0), metavar=("MIN", "MAX"),
                        help="anyres_e2p pitch range in degrees")
    parser.add_argument("--global-mode", choices=GLOBAL_MODES, default="squash", help="anyres_e2p global view")
    parser.add_argument("--no-antialias", action="store_true", help="sample the full-resolution ERP directly")
    parser.add_argument("--columns", type=int, default=0, help="contact sheet columns (0: automatic)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    try:
        erp = load_image(args.image)
        plan = build_view_plan(args.strategy, (args.size, args.size), args.fov, args.overlap,
                               pitch_range=tuple(args.pitch_range), global_mode=args.global_mode)
    except (ImageLoadError, ValueError) as err:
        logger.error("%s", err)
        return 2
    views = Projector(plan, antialias=not args.no_antialias).render(erp)  # (V, S, S, 3) RGB
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for i, (view, pixels) in enumerate(zip(plan.views, views, strict=True)):
        name = f"view_{i:02d}.png"
        _write_png(args.out / name, pixels)
        records.append(_record(view, name))
    _write_png(args.out / "contact_sheet.png", contact_sheet(plan, views, args.columns))
    document = {"image": str(args.image), "erp_size": [erp.shape[1], erp.shape[0]], "strategy": plan.strategy,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.params},
                "antialias": not args.no_antialias, "views": records}
    (args.out / "views.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d views, contact_sheet.png and views.json to %s", len(records), args.out)
    return 0


def _record(view: View, file: str) -> dict:
    return {"kind": view.kind, "yaw_deg": view.yaw_deg, "pitch_deg": view.pitch_deg, "hfov_deg": view.hfov_deg,
            "vfov_deg": view.vfov_deg, "width": view.width, "height": view.height,
            "projection": view.projection, "file": file}


def contact_sheet(plan: ViewPlan, views: np.ndarray, columns: int = 0, gap: int = 4) -> np.ndarray:
    """Views ``(V, S_h, S_w, 3)`` -> one RGB image, views in a grid with a label on each."""
    n, s_h, s_w, _ = views.shape
    cols = columns or min(n, max(1, math.ceil(math.sqrt(n * 2))))
    rows = math.ceil(n / cols)
    sheet = np.full((rows * (s_h + gap) + gap, cols * (s_w + gap) + gap, 3), 32, dtype=np.uint8)
    for i, (view, pixels) in enumerate(zip(plan.views, views, strict=True)):
        y, x = gap + (i // cols) * (s_h + gap), gap + (i % cols) * (s_w + gap)
        tile = np.ascontiguousarray(pixels)
        label = f"{i} {view.kind} y{view.yaw_deg:+.0f} p{view.pitch_deg:+.0f}"
        scale = max(0.3, s_w / 448.0)
        for color, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined text reads on any background
            cv2.putText(tile, label, (4, int(18 * scale) + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness,
                        cv2.LINE_AA)
        sheet[y:y + s_h, x:x + s_w] = tile
    return sheet


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: cv2.imwrite failed")
