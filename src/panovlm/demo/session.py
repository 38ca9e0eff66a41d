"""The demo's model side, without any web code: load a panorama, answer about it, say where it looked.

Everything the page shows comes from here, so it is unit-tested without a browser:

* :meth:`DemoSession.load_panorama` decodes an upload with the processor's own guards (size,
  pixel count against decompression bombs, 2:1 aspect) and raises ``ImageLoadError`` with the reason;
* :meth:`DemoSession.model_views` are the views the model receives, labelled with their directions;
* :meth:`DemoSession.answer` streams the answer piece by piece (transformers' ``TextIteratorStreamer``;
  generation runs in a worker thread) and ends with the answer's :class:`~.attention.ViewAttention`.

Prompts are built by the saved processor, exactly as in evaluation (``panovlm eval``): the chat
template, system prompt and placeholder the model was trained with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from transformers import TextIteratorStreamer

from panovlm.data.io import ImageLoadError, load_image
from panovlm.demo.attention import ViewAttention, attention_overlay, view_attention
from panovlm.demo.look import view_label
from panovlm.evaluation.dino import DinoVisualizer
from panovlm.evaluation.generation import GenerationSettings
from panovlm.models.loading import load_model

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_MAX_PIXELS = 64_000_000  # an 11k x 5.6k panorama; larger uploads are refused before decoding
DISPLAY_WIDTH = 1024  # the panorama as the page shows it (overlays are drawn at this size)


@dataclass
class Answer:
    """A finished answer: its text, the attention shares and the overlay picture."""

    text: str
    attention: ViewAttention | None
    overlay: np.ndarray | None


class DemoSession:
    """One loaded model + processor and the demo's operations on it.

    Args:
        model, processor: a ``PanoLLaVaForConditionalGeneration`` and its ``PanoLLaVaProcessor``.
        max_upload_mb, max_pixels: upload guards (file size, decoded pixel count).
        device: where the model runs (``"cpu"``, ``"cuda"``).
    """

    def __init__(self, model: Any, processor: Any, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 max_pixels: int = DEFAULT_MAX_PIXELS, device: str = "cpu") -> None:
        if max_upload_mb <= 0:
            raise ValueError(f"max_upload_mb must be > 0, got {max_upload_mb}")
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_pixels = int(max_pixels)
        self._pca: DinoVisualizer | None = None

    @classmethod
    def from_folder(cls, model_dir: str | Path, device: str = "cpu", **kwargs: Any) -> DemoSession:
        """Load a saved model folder (``save_pretrained`` / ``panovlm export``; no remote code is run)."""
        model, processor = load_model(model_dir, device=device)
        return cls(model, processor, device=device, **kwargs)

    @property
    def plan(self) -> Any:
        return self.processor.view_plan

    # ------------------------------------------------------------------ images
    def load_panorama(self, path: str | Path) -> np.ndarray:
        """RGB uint8 ERP ``(H, W, 3)`` of an upload; ``ImageLoadError`` names what is wrong with it."""
        path = Path(path)
        if path.is_file() and path.stat().st_size > self.max_upload_bytes:
            raise ImageLoadError(f"the file is {path.stat().st_size / 2**20:.3g} MB; the demo takes at most "
                                 f"{self.max_upload_bytes / 2**20:.3g} MB (--max-upload-mb)", path)
        return load_image(path, max_pixels=self.max_pixels, strict_aspect=True)

    def model_views(self, erp: np.ndarray) -> list[tuple[np.ndarray, str]]:
        """The views the model receives, as ``(picture (S, S, 3) uint8, label)`` pairs in model order."""
        pixels = self.processor.image_processor.views_from_array(erp)  # (V, 3, S, S) normalised
        image_processor = self.processor.image_processor
        mean = torch.tensor(image_processor.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(image_processor.image_std).view(1, 3, 1, 1)
        shown = pixels * std + mean if image_processor.normalize else pixels
        pictures = (shown.permute(0, 2, 3, 1).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)  # (V, S, S, 3)
        return [(pictures[i], view_label(view)) for i, view in enumerate(self.plan.views)]

    def pca_painting(self, erp: np.ndarray) -> np.ndarray:
        """The vision encoder's tokens as PCA colours painted on the panorama (the visualiser's picture)."""
        if self._pca is None:
            self._pca = DinoVisualizer(self.model, self.processor.image_processor, similarity=False,
                                       erp_width=DISPLAY_WIDTH)
        results = self._pca.analyse(self._pca.extract(erp))
        return results["vision_encoder"].erp

    # ------------------------------------------------------------------ answers
    def answer(self, erp: np.ndarray, question: str, settings: GenerationSettings) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then one :class:`Answer`."""
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        inputs = self.processor(text=[question], images=[erp], return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        prompt_length = inputs["input_ids"].shape[1]
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def work() -> torch.Tensor:
            try:
                with torch.inference_mode():
                    return self.model.generate(**inputs, **settings.generate_kwargs(), streamer=streamer)
            finally:
                streamer.end()  # also on an error, so the loop below cannot wait forever

        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(work)
            for piece in streamer:
                if piece:
                    yield piece
            sequences = future.result()  # (1, T + new); re-raises a generation error here
        text = self.processor.decode_generated(sequences, prompt_length)[0]
        if sequences.shape[1] <= prompt_length:
            yield Answer(text, None, None)
            return
        attention = view_attention(self.model, sequences, inputs["pixel_values"], prompt_length, len(self.plan))
        overlay = attention_overlay(display_erp(erp), self.plan, attention, self.model.resampler.output_grid)
        logger.info("answer %r: vision share %.2f, views %s", text, attention.vision_share,
                    np.round(attention.shares, 3).tolist())
        yield Answer(text, attention, overlay)


def display_erp(erp: np.ndarray, width: int = DISPLAY_WIDTH) -> np.ndarray:
    """The panorama at most ``width`` pixels wide (2:1), as the page shows it."""
    if erp.shape[1] <= width:
        return erp
    return cv2.resize(erp, (width, width // 2), interpolation=cv2.INTER_AREA)
