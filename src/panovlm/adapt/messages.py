"""Views -> the base model's own multi-image chat input: ``AdaptProcessor``.

The first user turn becomes ``[tag, image, tag, image, ..., question]`` (global view first, each view
after a short direction tag), rendered with the base tokenizer's chat template; each image
placeholder of the template is then expanded to the view's visual-token count, exactly as the
family's HF processor does (``families.Family.expand``). The HF processor classes themselves are not
used because they insist on a video processor, which needs torchvision; the model's own placeholder
count check still guards the expansion.

Shapes: ``input_ids`` / ``labels`` (T,) per sample; pixel inputs of B panoramas concatenated over
their ``B * V`` views (``pixel_values`` and, for Qwen2.5-VL, ``image_grid_thw`` (B * V, 3)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from panovlm.adapt.families import Family
from panovlm.adapt.views import view_grids
from panovlm.data.io import load_image
from panovlm.data.projection import Projector
from panovlm.geometry import View, ViewPlan

IGNORE_INDEX = -100


def direction_tag(view: View) -> str:
    """A short text tag of where a view looks: ``"Global view:"`` or ``"View yaw 45, pitch 0:"``."""
    if view.kind == "global":
        return "Global view:"
    return f"View yaw {view.yaw_deg:g}, pitch {view.pitch_deg:g}:"


class AdaptProcessor:
    """Renders a panorama through the plan and builds the base model's chat input (see the module docstring)."""

    def __init__(self, family: Family, tokenizer: Any, image_processor: Any, plan: ViewPlan,
                 direction_tags: bool = True) -> None:
        self.family, self.tokenizer, self.image_processor, self.plan = family, tokenizer, image_processor, plan
        self.direction_tags = direction_tags
        self.projector = Projector(plan)
        self.grids = view_grids(plan, family)
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"the {family.name} tokenizer has no chat template; load the base's tokenizer")

    # -- images ---------------------------------------------------------------------------------
    def render(self, image: str | Path | np.ndarray) -> np.ndarray:
        """One ERP (path or RGB uint8 array) -> its views ``(V, H, W, 3)`` uint8."""
        erp = image if isinstance(image, np.ndarray) else load_image(image)
        return self.projector.render(erp)

    def pixel_inputs(self, views: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Views of B panoramas -> the family's pixel inputs over all ``B * V`` images."""
        stacked = np.concatenate([np.asarray(v) for v in views])  # (B * V, H, W, 3)
        return self.family.pixel_inputs(self.image_processor, stacked)

    # -- text -----------------------------------------------------------------------------------
    def user_content(self, question: str) -> list[dict]:
        content: list[dict] = []
        for view in self.plan.views:
            if self.direction_tags:
                content.append({"type": "text", "text": direction_tag(view)})
            content.append({"type": "image"})
        content.append({"type": "text", "text": question})
        return content

    def _with_images(self, messages: Sequence[dict]) -> list[dict]:
        """The conversation with the views put into its first user turn."""
        out, placed = [], False
        for message in messages:
            if message["role"] == "user" and not placed:
                out.append({"role": "user", "content": self.user_content(str(message["content"]))})
                placed = True
            else:
                out.append({"role": message["role"], "content": str(message["content"])})
        if not placed:
            raise ValueError(f"no user turn to put the views in: {list(messages)!r}")
        return out

    def _template(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    def expand(self, text: str) -> str:
        """Replace each image placeholder of ``text`` by its view's visual-token run."""
        pieces = text.split(self.family.image_token)
        if len(pieces) - 1 != len(self.grids):
            raise ValueError(f"the chat text holds {len(pieces) - 1} {self.family.image_token!r} placeholders "
                             f"for {len(self.grids)} views")
        out = [pieces[0]]
        for (h, w), piece in zip(self.grids, pieces[1:], strict=True):
            out += [self.family.expand(h * w), piece]
        return "".join(out)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        """Token ids of the conversation up to the assistant's turn (generation prompt)."""
        return self._ids(self.expand(self._template(self._with_images(messages), True)))

    def training_ids(self, messages: Sequence[dict], max_length: int) -> tuple[list[int], list[int]]:
        """(input_ids, labels): labels are -100 except on assistant answers (and their end-of-turn token)."""
        chat = self._with_images(messages)
        ids: list[int] = []
        labels: list[int] = []
        done = ""
        for i, message in enumerate(chat):
            if message["role"] != "assistant":
                continue
            prompt, full = self._template(chat[:i], True), self._template(chat[: i + 1], False)
            if not (prompt.startswith(done) and full.startswith(prompt)):
                raise ValueError("the chat template does not render turns as prefixes of each other; "
                                 "labels cannot be placed")
            context = self._ids(self.expand(prompt[len(done):]) if not done else prompt[len(done):])
            answer = self._ids(full[len(prompt):])
            ids += context + answer
            labels += [IGNORE_INDEX] * len(context) + answer
            done = full
        if not any(label != IGNORE_INDEX for label in labels):
            raise ValueError(f"no assistant answer to learn in {list(messages)!r}")
        if len(ids) > max_length:
            raise ValueError(f"sample is {len(ids)} tokens ({sum(h * w for h, w in self.grids)} visual), over "
                             f"model.max_text_length={max_length}; raise it or lower model.max_visual_tokens")
        return ids, labels

    # -- batches --------------------------------------------------------------------------------
    def generation_batch(self, messages: Sequence[Sequence[dict]], images: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Left-padded prompts + pixel inputs of ``images`` (one panorama per conversation)."""
        if len(messages) != len(images):
            raise ValueError(f"{len(messages)} prompts for {len(images)} panoramas")
        rows = [self.prompt_ids(m) for m in messages]
        batch = pad(rows, None, self.tokenizer.pad_token_id, left=True)
        batch.update(self.pixel_inputs([self.render(img) for img in images]))
        return batch


def pad(rows: Sequence[list[int]], labels: Sequence[list[int]] | None, pad_id: int, left: bool) -> dict:
    """Pad token rows to ``(B, T)``; labels with -100. Left padding for generation, right for training."""
    if pad_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token")
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), int(pad_id), dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), length), dtype=torch.long)  # (B, T)
    lab = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for i, row in enumerate(rows):
        span = slice(length - len(row), length) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
        if labels is not None:
            lab[i, span] = torch.tensor(labels[i], dtype=torch.long)
    out = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        out["labels"] = lab
    return out
