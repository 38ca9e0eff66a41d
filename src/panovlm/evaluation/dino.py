"""``DinoVisualizer``: DINO-style PCA pictures of a trained model's features and the view-similarity report.

The feature visualiser as a library: ``scripts/visualize_trained_model.py`` and ``panovlm visualize``
are thin wrappers. For one panorama it renders the model's views, runs the vision tower and the
resampler, colours the tokens of both with one PCA basis fitted on all views together
(:mod:`.pca`), paints those colours back onto the ERP through each token's ray
(:mod:`.dino_render`) and scores every neighbouring pair of views of the plan (:mod:`.similarity`).

Shapes: views ``(V, S, S, 3)`` uint8; vision tokens ``(V, gh, gw, Dv)``; resampled tokens
``(V, h, w, Dl)`` on ``resampler.output_grid`` or ``(V, S', Dl)`` for query resamplers (no grid: no
ray matching and no ERP painting for them).

Files written by :meth:`DinoVisualizer.visualize` (``name`` = the checkpoint's name): ``original_views_{name}.png``,
``vision_encoder_pca_{name}.png``, ``resampled_features_pca_{name}.png``, ``erp_pca_{name}.png``,
``similarity_analysis_{name}.txt`` and ``similarity_{name}.json`` (see :mod:`.dino_report`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from panovlm.data.io import ImageSource, load_image
from panovlm.evaluation import dino_render as render
from panovlm.evaluation.dino_loading import CheckpointError, LoadedModel, load_for_visualization
from panovlm.evaluation.dino_report import LEVEL_TITLES, LEVELS, write_outputs
from panovlm.evaluation.pca import BG_REMOVAL, DEFAULT_BG_THRESHOLD, PCABasis, fit_shared_bases
from panovlm.evaluation.similarity import LpipsStatus, PairScores, lpips_status, neighbour_pairs, pair_similarity
from panovlm.geometry import ViewPlan
from panovlm.models.processing_panollava import image_processor_for

logger = logging.getLogger(__name__)


@dataclass
class PanoramaFeatures:
    """What the model saw and produced for one panorama."""

    image: str
    erp: np.ndarray  # (H, W, 3) uint8
    plan: ViewPlan
    views: np.ndarray  # (V, S, S, 3) uint8, the model's input views
    tokens: dict[str, Tensor]  # level -> (V, h, w, D) on a grid or (V, S', D) queries, CPU float32
    prefix: Tensor | None = None  # (V, P, Dv) CLS / register tokens, used in the vision PCA fit when kept
    seconds: float = 0.0


@dataclass
class LevelResult:
    """One level's pictures and scores."""

    basis: PCABasis
    images: np.ndarray  # (V, S, S, 3) uint8 PCA-RGB, one flat block per token
    erp: np.ndarray | None  # (He, We, 3) uint8 painted ERP, None without a token grid
    grid: tuple[int, int] | None
    dim: int
    scores: list[PairScores] = field(default_factory=list)


def fit_bases(features: Sequence[PanoramaFeatures], n_components: int = 3, bg_removal: str = "threshold",
              bg_threshold: float = DEFAULT_BG_THRESHOLD, keep_cls_token: bool = False) -> list[dict[str, PCABasis]]:
    """Per level, one basis on the tokens of all views; several ``features`` (``--compare``) share its directions.

    Returns one ``{level: basis}`` per entry of ``features`` (see ``pca.fit_shared_bases``).
    """
    out: list[dict[str, PCABasis]] = [{} for _ in features]
    for level in LEVELS:
        groups = []
        for f in features:
            sets = [f.tokens[level].reshape(-1, f.tokens[level].shape[-1])]  # (V * S, D)
            if level == "vision_encoder" and keep_cls_token and f.prefix is not None:
                sets.append(f.prefix.reshape(-1, f.prefix.shape[-1]))  # (V * P, D)
            groups.append(sets)
        try:
            bases = fit_shared_bases(groups, n_components, bg_removal, bg_threshold)
        except ValueError as err:
            raise ValueError(f"{LEVEL_TITLES[level]} PCA: {err}") from err
        for target, basis in zip(out, bases, strict=True):
            target[level] = basis
    return out


class DinoVisualizer:
    """PCA pictures and view similarity of one model.

    Args:
        model: a ``PanoLLaVaForConditionalGeneration`` (only ``vision_tower`` and ``resampler`` run).
        image_processor: a ``PanoramaImageProcessor``; its view plan is the one analysed.
        n_components: PCA components shown as colours (1 grey, 2 red/green, 3 RGB).
        bg_removal: one of ``pca.BG_REMOVAL``; ``bg_threshold`` for ``threshold``.
        keep_cls_token: fit the vision PCA with the CLS / register tokens too (the seed's
            ``--no_cls_token``); they have no place on the view, so they are never drawn. SigLIP has none.
        similarity: compute the similarity metrics (the seed's ``--no_similarity`` turns them off).
        erp_width: width of the painted ERP pictures.
        name: the model's name in file names and reports.
    """

    def __init__(self, model: Any, image_processor: Any, *, n_components: int = 3, bg_removal: str = "threshold",
                 bg_threshold: float = DEFAULT_BG_THRESHOLD, keep_cls_token: bool = False, similarity: bool = True,
                 erp_width: int = 512, name: str = "model") -> None:
        if bg_removal not in BG_REMOVAL:
            raise ValueError(f"bg_removal must be one of {list(BG_REMOVAL)}, got {bg_removal!r}")
        if not 1 <= n_components <= 3:
            raise ValueError(f"n_components must be 1, 2 or 3 (the RGB channels), got {n_components}")
        if erp_width < 16 or erp_width % 2:
            raise ValueError(f"erp_width must be an even number >= 16, got {erp_width}")
        self.model = model
        self.image_processor = image_processor
        self.n_components = n_components
        self.bg_removal = bg_removal
        self.bg_threshold = bg_threshold
        self.keep_cls_token = keep_cls_token
        self.similarity = similarity
        self.erp_width = erp_width
        self.name = name
        self._lpips: LpipsStatus | None = None

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, config: str | Path | None = None, device: str = "auto",
                        crop_strategy: str | None = None, image_size: int | None = None,
                        allow_untrained_strategy: bool = False, **kwargs: Any) -> DinoVisualizer:
        """Load a Lightning checkpoint or HF model folder (:func:`~.dino_loading.load_for_visualization`).

        ``crop_strategy`` / ``image_size`` must be the model's own unless ``allow_untrained_strategy``
        (the encoder then sees views of a plan it was not trained on; the resampler's token count is unchanged).
        """
        loaded = load_for_visualization(checkpoint, config, device)
        processor = _checked_processor(loaded, crop_strategy, image_size, allow_untrained_strategy)
        return cls(loaded.model, processor, name=kwargs.pop("name", loaded.name), **kwargs)

    @property
    def plan(self) -> ViewPlan:
        return self.image_processor.view_plan

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def extract(self, image: ImageSource) -> PanoramaFeatures:
        """Views and tokens of one panorama; the image must be about 2:1 (an error names the file otherwise)."""
        start = time.perf_counter()
        erp = load_image(image, strict_aspect=True)
        pixels = self.image_processor.views_from_array(erp)  # (V, 3, S, S) normalised
        tower, resampler = self.model.vision_tower, self.model.resampler
        param = next(tower.parameters())
        # The backbone's raw output, before forward() drops the prefix (CLS / register) tokens that
        # --no_cls_token keeps in the PCA fit; it also bypasses a training-time feature cache.
        hidden = tower._run(pixels.to(param.device, param.dtype))  # (V, P + gh*gw, Dv)
        prefix, patches = hidden[:, :tower.num_prefix_tokens], hidden[:, tower.num_prefix_tokens:]
        resampled = resampler(patches)  # (V, S', Dl)
        v = pixels.shape[0]
        gh, gw = tower.grid_hw
        tokens = {"vision_encoder": patches.reshape(v, gh, gw, -1)}  # (V, gh, gw, Dv)
        grid = resampler.output_grid
        tokens["resampled_features"] = resampled.reshape(v, grid[0], grid[1], -1) if grid else resampled
        tokens = {k: t.float().cpu() for k, t in tokens.items()}
        return PanoramaFeatures(
            image=str(image) if isinstance(image, (str, Path)) else "<array>", erp=erp, plan=self.plan,
            views=_display_views(pixels, self.image_processor), tokens=tokens,
            prefix=prefix.float().cpu() if prefix.shape[1] else None, seconds=time.perf_counter() - start)

    def fit(self, features: Sequence[PanoramaFeatures]) -> list[dict[str, PCABasis]]:
        return fit_bases(features, self.n_components, self.bg_removal, self.bg_threshold, self.keep_cls_token)

    def analyse(self, features: PanoramaFeatures, bases: dict[str, PCABasis] | None = None) -> dict[str, LevelResult]:
        """PCA pictures and (if ``similarity``) pair scores of every level; ``bases`` default: fitted on ``features``."""
        bases = bases or self.fit([features])[0]
        pairs = neighbour_pairs(features.plan) if self.similarity else ()
        if self.similarity and self._lpips is None:
            self._lpips = lpips_status()
        size = features.views.shape[1:3]
        erp_hw = (self.erp_width // 2, self.erp_width)
        out = {}
        for level in LEVELS:
            tokens, basis = features.tokens[level], bases[level]
            v, dim = tokens.shape[0], tokens.shape[-1]
            grid = (tokens.shape[1], tokens.shape[2]) if tokens.ndim == 4 else None
            layout = grid or render.square_layout(tokens.shape[1])
            colours = basis.colours(tokens.reshape(-1, dim)).numpy().astype(np.float32)  # (V * S, 3)
            if grid is None:  # queries: pad the set to the square layout, shown in query order
                padded = np.zeros((v, layout[0] * layout[1], 3), np.float32)
                padded[:, :tokens.shape[1]] = colours.reshape(v, -1, 3)
                colours = padded
            cells = colours.reshape(v, layout[0], layout[1], 3)  # (V, h, w, 3)
            images = np.stack([render.to_uint8(render.upscale(c, size)) for c in cells])  # (V, S, S, 3)
            erp = render.to_uint8(render.paint_erp(cells, features.plan, erp_hw)) if grid else None
            scores = []
            if pairs:
                # SSIM / LPIPS compare what the pictures show: the upscaled PCA images, only on a grid.
                scores = pair_similarity(tokens, features.plan, pairs,
                                         images=images.astype(np.float32) / 255.0 if grid else None,
                                         lpips=self._lpips)
            out[level] = LevelResult(basis, images, erp, grid, int(dim), scores)
        return out

    @property
    def lpips_note(self) -> str:
        status = self._lpips
        return "" if status is None or status.available else status.reason

    def visualize(self, image: ImageSource, output_dir: str | Path, name: str | None = None) -> dict[str, Any]:
        """Extract, analyse and write every output file of one panorama; returns the JSON report."""
        start = time.perf_counter()
        features = self.extract(image)
        results = self.analyse(features)
        report = write_outputs(Path(output_dir), name or self.name, features, results, self)
        report["seconds"] = round(time.perf_counter() - start, 3)
        logger.info("%s: %s in %.2f s -> %s", name or self.name, features.image, report["seconds"], output_dir)
        return report


def _checked_processor(loaded: LoadedModel, crop_strategy: str | None, image_size: int | None,
                       allow_untrained_strategy: bool) -> Any:
    """The model's own image processor, or one with another strategy when that is explicitly allowed."""
    config = loaded.model.config
    if image_size is not None and (image_size, image_size) != tuple(config.image_hw):
        raise CheckpointError(f"--image_size {image_size}: {loaded.source} takes {config.image_hw[0]}x"
                              f"{config.image_hw[1]} views (config image_size); its vision tower and resampler are "
                              "built for that size")
    if crop_strategy is None or crop_strategy == config.crop_strategy:
        return loaded.image_processor
    if not allow_untrained_strategy:
        raise CheckpointError(f"--crop_strategy {crop_strategy!r}: {loaded.source} was trained with "
                              f"crop_strategy {config.crop_strategy!r} ({loaded.config_source}); pass that one, or "
                              "--allow_untrained_strategy to look at views the model was not trained on")
    other = copy.deepcopy(config)
    other.crop_strategy = crop_strategy
    other.validate_settings()
    return image_processor_for(other)


def _display_views(pixels: Tensor, processor: Any) -> np.ndarray:
    """Normalised views ``(V, 3, S, S)`` -> uint8 ``(V, S, S, 3)`` as the model saw them."""
    views = pixels.float().cpu()
    if processor.normalize:
        mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
        views = views * std + mean
    return render.to_uint8(views.permute(0, 2, 3, 1).clamp(0, 1).numpy())  # (V, S, S, 3)
