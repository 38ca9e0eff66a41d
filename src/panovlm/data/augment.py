"""Yaw-rotation augmentation: turn the panorama, and its direction words with it.

Turning the viewer is an exact circular shift of the ERP columns, so a panorama gives four exact
training samples per quarter turn, as long as the text turns too. A quarter turn to the right moves
what was in front to the right, the right behind, and so on; above and below stay. Only quarter turns
are offered: PanoShapes places horizon objects within 15 degrees of their direction, so any other
angle would leave some objects between two direction words.

Text is rewritten only where its directions are known exactly:

* PanoShapes text (its question templates, scene captions, direct answers) is rebuilt from its
  structure, so the answers equal those of rendering the turned scene;
* other text only with configured phrase cycles (``data.rotation_phrases``: lists of four phrases,
  front -> right -> behind -> left); a sample whose text cannot be rewritten is not turned.

Shapes: ERP ``(H, W, 3)``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from panovlm.data.synth import NOTHING, QUERY_TEMPLATES, SCENE_QUERIES, parse_caption, scene_caption
from panovlm.data.synth_render import ShapeObject

logger = logging.getLogger(__name__)
HORIZON: tuple[str, ...] = ("front", "right", "behind", "left")


def turn_direction(direction: str, quarter_turns: int) -> str:
    """The direction a thing seen at ``direction`` is seen at after turning the scene right by k quarters."""
    if direction in HORIZON:
        return HORIZON[(HORIZON.index(direction) + quarter_turns) % 4]
    return direction  # above, below


def rotate_erp(erp: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The panorama turned right by ``quarter_turns`` x 90 degrees: an exact roll of its columns."""
    width = erp.shape[1]
    if width % 4:
        raise ValueError(f"a quarter-turn rotation needs an ERP width divisible by 4, got {width}")
    # Yaw grows with the column index, so moving content to larger yaws is a roll to the right.
    return np.roll(erp, (quarter_turns % 4) * width // 4, axis=1)


_TEMPLATE_INDEX = {text: (d, i) for d, texts in QUERY_TEMPLATES.items() for i, text in enumerate(texts)}
_TEMPLATE_RE = re.compile("|".join(re.escape(t) for t in sorted(_TEMPLATE_INDEX, key=len, reverse=True)))


def _panoshapes_caption(text: str, quarter_turns: int) -> str | None:
    """A PanoShapes caption rebuilt for the turned scene, or None if ``text`` is not exactly one."""
    objects = parse_caption(text)
    if not objects or any(o[k] is None for o in objects for k in ("size", "colour", "direction")):
        return None
    shapes = [ShapeObject(o["colour"], o["shape"], o["size"], o["direction"], 0.0, 0.0) for o in objects]
    if scene_caption(shapes) != text.strip():
        return None
    turned = [ShapeObject(o.colour, o.shape, o.size, turn_direction(o.direction, quarter_turns), 0.0, 0.0)
              for o in shapes]
    return scene_caption(turned)


def _is_direct_answer(text: str) -> bool:
    """"nothing" or one object without a direction ("a small blue triangle"): turns leave it as it is."""
    if text.strip() == NOTHING:
        return True
    objects = parse_caption(text)
    return len(objects) == 1 and objects[0]["direction"] is None and \
        text.strip() == f"a {objects[0]['size']} {objects[0]['colour']} {objects[0]['shape']}"


def is_phrase_cycle(cycle: Sequence[object]) -> bool:
    """Four non-empty phrases in the order front, right, behind, left (one ``data.rotation_phrases`` entry)."""
    return len(cycle) == 4 and all(isinstance(p, str) and p.strip() for p in cycle)


class TextTurner:
    """Rewrites direction words for a quarter turn; ``None`` when a text's directions are not known."""

    def __init__(self, phrase_cycles: Sequence[Sequence[str]] = ()) -> None:
        cycles = [tuple(c) for c in phrase_cycles]
        for cycle in cycles:
            if not is_phrase_cycle(cycle):
                raise ValueError(f"data.rotation_phrases entries must be 4 non-empty phrases (front, right, behind, "
                                 f"left), got {list(cycle)}")
        self._cycle_of = {p.lower(): (c, i) for c in cycles for i, p in enumerate(c)}
        words = sorted(self._cycle_of, key=len, reverse=True)
        self._phrase_re = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.I) if words else None

    def user(self, text: str, quarter_turns: int) -> str | None:
        """A user turn: PanoShapes question templates are mapped to the turned direction's template."""
        if _TEMPLATE_RE.search(text):
            def swap(match: re.Match) -> str:
                direction, index = _TEMPLATE_INDEX[match.group(0)]
                return QUERY_TEMPLATES[turn_direction(direction, quarter_turns)][index]

            return _TEMPLATE_RE.sub(swap, text)
        if any(q in text for q in SCENE_QUERIES):
            return text
        return self._phrases(text, quarter_turns)

    def assistant(self, text: str, quarter_turns: int) -> str | None:
        """An answer: PanoShapes captions rebuilt, direct answers kept, other text by the phrase cycles."""
        caption = _panoshapes_caption(text, quarter_turns)
        if caption is not None:
            return caption
        if _is_direct_answer(text):
            return text
        return self._phrases(text, quarter_turns)

    def _phrases(self, text: str, quarter_turns: int) -> str | None:
        if self._phrase_re is None:
            return None

        def swap(match: re.Match) -> str:
            cycle, index = self._cycle_of[match.group(0).lower()]
            return cycle[(index + quarter_turns) % 4]

        return self._phrase_re.sub(swap, text)

    def messages(self, messages: list[dict[str, str]], quarter_turns: int) -> list[dict[str, str]] | None:
        """Every turn rewritten, or None if any turn cannot be (then the sample is not turned)."""
        out = []
        for message in messages:
            role, content = message["role"], message["content"]
            if role == "system" or quarter_turns % 4 == 0:
                new = content
            else:
                new = self.user(content, quarter_turns) if role == "user" else self.assistant(content, quarter_turns)
            if new is None:
                return None
            out.append({**message, "content": new})
        return out


def turn_sample(sample: Any, turner: TextTurner, quarter_turns: int, unturnable: set[str]) -> tuple[Any, int]:
    """``(sample with its text turned, quarter_turns)``, or ``(sample, 0)`` when its text cannot be turned.

    ``unturnable``: the sample ids already warned about (one warning per sample and data-loader worker).
    """
    if quarter_turns % 4 == 0:
        return sample, 0
    messages = turner.messages(sample.messages, quarter_turns)
    if messages is None:
        if sample.sample_id not in unturnable:
            unturnable.add(sample.sample_id)
            logger.warning("sample %s is not rotated: its text has directions that data.rotation_phrases does "
                           "not cover (%d such samples so far in this worker)", sample.sample_id, len(unturnable))
        return sample, 0
    return dataclasses.replace(sample, messages=messages), quarter_turns


__all__ = ["HORIZON", "TextTurner", "is_phrase_cycle", "rotate_erp", "turn_direction", "turn_sample"]
