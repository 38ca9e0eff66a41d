"""Visualiser benchmark: seconds for one panorama, tiny preset and a SigLIP-base-shaped random-init tower.

For each model: ``DinoVisualizer.visualize`` on one panorama (render the views, vision tower and
resampler forward, PCA, ERP painting, all similarity metrics, write every file), median of
``--repeats`` runs after one warm-up (the warm-up fills the geometry caches; its time is reported
too). Model construction is not timed. Target (issue 13): the tiny preset under 5 s on 2 cores.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/visualize.py [--image PANO] [--repeats 3] [--skip-base]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from panovlm.evaluation.dino import DinoVisualizer
from panovlm.evaluation.dino_loading import image_processor_for

SIGLIP_BASE = {"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 3072,
               "num_hidden_layers": 12, "num_attention_heads": 12, "patch_size": 16, "image_size": 224}


def _tiny() -> torch.nn.Module:
    # The preset's architecture with random weights (the time does not depend on the weights).
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.models.tiny import TINY_SETTINGS, tiny_specs, tiny_tokenizer

    vision, text = tiny_specs()
    return PanoLLaVaForConditionalGeneration.from_components(vision, text, tiny_tokenizer(), **TINY_SETTINGS)


def _siglip_base() -> torch.nn.Module:
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.models.tiny import tiny_specs, tiny_tokenizer

    _, text = tiny_specs()
    return PanoLLaVaForConditionalGeneration.from_components(dict(SIGLIP_BASE), text, tiny_tokenizer(),
                                                             latent_dimension=768)


def _time(model: torch.nn.Module, image: Path, repeats: int) -> tuple[float, float, int]:
    model.eval()
    viz = DinoVisualizer(model, image_processor_for(model.config), name="bench")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        viz.visualize(image, out)
        first = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            viz.visualize(image, out)
            times.append(time.perf_counter() - start)
    return first, statistics.median(times), len(viz.plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=None, help="panorama (default: a PanoShapes 512x256 one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-base", action="store_true", help="only the tiny preset")
    args = parser.parse_args()
    image = args.image
    if image is None:
        from panovlm.cli import main as cli

        tmp = Path(tempfile.mkdtemp())
        cli(["synth", "--out", str(tmp), "--train", "1", "--val", "1", "--test", "1", "--seed", "0"])
        image = sorted((tmp / "images").glob("*.png"))[0]
    print(f"image {image}; torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    models = [("tiny preset (h128 x 4, 9 views of 128 px)", _tiny)]
    if not args.skip_base:
        models.append(("SigLIP-base-shaped random init (h768 x 12, 9 views of 224 px)", _siglip_base))
    for label, build in models:
        first, median, views = _time(build(), image, args.repeats)
        print(f"{label}: first {first:.2f} s, median of {args.repeats} {median:.2f} s ({views} views)")


if __name__ == "__main__":
    main()
