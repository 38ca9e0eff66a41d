"""Projection benchmark: speed of the view render and of the whole processor, and anti-aliasing error.

Run: HF_HUB_OFFLINE=1 python benchmarks/projection.py [--image PATH] [--repeat 50]

Speed (anyres_e2p, 1 global + 8 tiles at 224): our render vs py360convert's ``e2p`` for the same
tiles (+ a cv2 area resize for the global view, which py360convert has no call for) vs a bare
``cv2.remap`` over the same precomputed maps on a pre-padded source; the whole processor
(JPEG file -> normalised tensor) vs decoding the JPEG alone.

Anti-aliasing: mean absolute error (0-255) of each render method against a reference rendered
at 8x the view size and area-averaged down (the pixel-footprint integral), for the real image
and for a fine synthetic pattern (worst case).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from panovlm.data.image import PanoramaImageProcessor
from panovlm.data.io import load_image
from panovlm.data.projection import Projector, _area_pyramid, wrap_pad
from panovlm.geometry import ViewPlan
from panovlm.plans import build_view_plan

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "panoramas" / "pannellum_examplepano.jpg"


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bare_remap(projector: Projector, erp: np.ndarray):
    """Everything precomputed (level images, padding, maps): only the remap calls remain."""
    h, w = erp.shape[:2]
    levels = projector.levels(w, h)
    images = _area_pyramid(erp, [lv.size for lv in levels]) if projector.antialias else {(w, h): erp}
    padded = [wrap_pad(images[lv.size]) for lv in levels]
    s_h, s_w = projector._render_hw  # (k*S_h, k*S_w)
    out = np.empty((projector.num_views * s_h, s_w, 3), np.uint8)

    def run():
        for lv, src in zip(levels, padded, strict=True):
            cv2.remap(src, lv.map1, lv.map2, cv2.INTER_LINEAR, dst=out[lv.start * s_h: lv.stop * s_h],
                      borderMode=cv2.BORDER_CONSTANT)
    return run


def speed(path: Path, repeat: int) -> None:
    import py360convert

    erp = load_image(path)
    plan = build_view_plan("anyres_e2p", image_size=(224, 224))
    print(f"image {path.name} {erp.shape[1]}x{erp.shape[0]}, {len(plan)} views of 224x224, median of {repeat}")

    def py360():
        cv2.resize(erp, (224, 224), interpolation=cv2.INTER_AREA)
        for v in plan.views[1:]:
            py360convert.e2p(erp, fov_deg=90.0, u_deg=v.yaw_deg, v_deg=v.pitch_deg, out_hw=(224, 224))

    t_py360 = median_ms(py360, max(5, repeat // 5))
    rows = []
    for antialias, k in ((False, 1), (True, 1), (True, 2)):
        projector = Projector(plan, antialias=antialias, supersample=k)
        t_ours = median_ms(lambda p=projector: p.render(erp), repeat)
        t_bare = median_ms(bare_remap(projector, erp), repeat)
        rows.append((f"antialias={antialias!s:5} supersample={k}", t_ours, t_bare))
    print(f"  py360convert e2p x8 (+ global resize) {t_py360:8.2f} ms")
    for label, t_ours, t_bare in rows:
        print(f"  render {label} {t_ours:6.2f} ms | bare remap same maps {t_bare:6.2f} ms | "
              f"vs py360convert {t_py360 / t_ours:5.1f}x faster (target >= 40) | "
              f"vs bare remap {t_ours / t_bare:4.2f}x (target <= 1.3)")

    def pil_decode():
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    t_pil = median_ms(pil_decode, repeat)
    t_cv2 = median_ms(lambda: cv2.imread(str(path), cv2.IMREAD_COLOR), repeat)
    for antialias, k in ((True, 1), (False, 1), (True, 2)):
        processor = PanoramaImageProcessor(crop_strategy="anyres_e2p", antialias=antialias, supersample=k)
        t_proc = median_ms(lambda p=processor: p(path), repeat)
        print(f"  processor(path) antialias={antialias!s:5} supersample={k} {t_proc:6.2f} ms | PIL decode {t_pil:6.2f} ms "
              f"(ratio {t_proc / t_pil:4.2f}, target <= 2.5) | cv2 decode {t_cv2:6.2f} ms (ratio {t_proc / t_cv2:4.2f})")


def reference(plan: ViewPlan, erp: np.ndarray, factor: int = 8) -> np.ndarray:
    """Each view rendered at ``factor`` x its size (bilinear) and area-averaged down: ``(V, S, S, 3)``."""
    big = ViewPlan(views=tuple(_scaled(v, factor) for v in plan.views))
    hi = Projector(big, antialias=False, fixed_point=False).render(erp)
    s_h, s_w = plan.views[0].height, plan.views[0].width
    return np.stack([cv2.resize(v, (s_w, s_h), interpolation=cv2.INTER_AREA) for v in hi])


def _scaled(view, factor):
    from dataclasses import replace

    return replace(view, width=view.width * factor, height=view.height * factor)


def origin_render(plan: ViewPlan, erp: np.ndarray, interpolation: int) -> np.ndarray:
    """The origin: tiles rendered at 672 (3x), then resized to 224."""
    return np.stack([cv2.resize(v, (224, 224), interpolation=interpolation) for v in reference_like(plan, erp)])


def reference_like(plan, erp):
    return Projector(ViewPlan(views=tuple(_scaled(v, 3) for v in plan.views)), antialias=False).render(erp)


def aliasing(path: Path, repeat: int) -> None:
    plan = build_view_plan("anyres_e2p", image_size=(224, 224))
    yy, xx = np.mgrid[0:1024, 0:2048].astype(np.float32)
    zone = (127.5 + 127.5 * np.cos((xx ** 2 + yy ** 2) * (np.pi / 2048.0))).astype(np.uint8)
    images = {"real": load_image(path), "zone plate": np.repeat(zone[..., None], 3, axis=2)}
    methods = {
        "no prefilter": lambda e: Projector(plan, antialias=False).render(e),
        "pyramid scale 0.5": lambda e: Projector(plan, prefilter_scale=0.5).render(e),
        "pyramid scale 1.0 (default)": lambda e: Projector(plan).render(e),
        "pyramid scale 2.0": lambda e: Projector(plan, prefilter_scale=2.0).render(e),
        "pyramid + supersample 2": lambda e: Projector(plan, supersample=2).render(e),
        "origin 672 -> 224 bilinear": lambda e: origin_render(plan, e, cv2.INTER_LINEAR),
        "672 -> 224 area": lambda e: origin_render(plan, e, cv2.INTER_AREA),
    }
    erp = images["real"]
    print("anti-aliasing: mean abs error (0-255) vs 8x supersampled reference; tiles | global; time per panorama")
    refs = {name: reference(plan, img) for name, img in images.items()}
    for name, method in methods.items():
        cells = []
        for img_name, img in images.items():
            out = method(img).astype(np.float64)
            err = np.abs(out - refs[img_name])
            cells.append(f"{img_name}: {err[1:].mean():5.2f} | {err[0].mean():5.2f}")
        t = median_ms(lambda m=method: m(erp), max(5, repeat // 5))
        print(f"  {name:28} {'   '.join(cells)}   {t:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    # A DataLoader worker runs torch with one thread; cv2 gets one too, so the comparison is per core
    # (two thread pools spinning against each other on 2 cores made timings swing 5x).
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    speed(args.image, args.repeat)
    aliasing(args.image, args.repeat)


if __name__ == "__main__":
    main()
