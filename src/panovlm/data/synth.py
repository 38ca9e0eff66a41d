"""PanoShapes: the project's synthetic 360-degree captioning set (``panovlm synth``).

Each panorama holds 1-3 coloured shapes (see :mod:`panovlm.data.synth_render`) in distinct
directions relative to the viewer: front, right, behind, left (near the horizon), above, below.
Attributes are drawn uniformly and independently of everything else, so an answer can only be read
from the image, never guessed from the query: a text-only ("blind") model stays near chance.

Rows per panorama (QuIC-360 columns ``url, query, annotation`` plus ``objects`` and
``target_direction``): one scene description ("the scene" -> "a large red circle in front and a
small green square to the left"), one question per occupied direction ("What is behind you?" ->
"a small blue triangle") and one about an empty direction (-> "nothing"). Answers are a fixed
function of the scene; only the query wording varies.

Deterministic by seed: panorama ``i`` of a split depends only on ``(seed, split, i)``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from panovlm.data.datasets import QUIC_PROMPT
from panovlm.data.synth_render import COLOURS, SHAPES, SIZES, ShapeObject, check_background_level, render_panorama
from panovlm.geometry import great_circle_deg, wrap_yaw

DIRECTIONS: tuple[str, ...] = ("front", "right", "behind", "left", "above", "below")
DIRECTION_PHRASES: dict[str, str] = {
    "front": "in front", "right": "to the right", "behind": "behind",
    "left": "to the left", "above": "above", "below": "below",
}
QUERY_TEMPLATES: dict[str, tuple[str, ...]] = {
    "front": ("What is in front of you?", "What is ahead of you?", "What do you see in front of you?"),
    "right": ("What is to your right?", "What is on your right?", "What do you see to your right?"),
    "behind": ("What is behind you?", "What is at your back?", "What do you see behind you?"),
    "left": ("What is to your left?", "What is on your left?", "What do you see to your left?"),
    "above": ("What is above you?", "What is over your head?", "What do you see above you?"),
    "below": ("What is below you?", "What is under your feet?", "What do you see below you?"),
}
SCENE_QUERIES: tuple[str, ...] = ("the scene", "the whole panorama", "everything around you")
NOTHING = "nothing"
CSV_COLUMNS: tuple[str, ...] = ("url", "query", "annotation", "objects", "target_direction")
SPLITS: tuple[str, ...] = ("train", "val", "test")

# Horizon directions: (yaw, pitch) anchors. Jitter stays well inside +-45 degrees of yaw so the
# label is unambiguous; "behind" objects often cross the seam because the anchor sits on it.
_HORIZON = {"front": 0.0, "right": 90.0, "behind": -180.0, "left": -90.0}
_YAW_JITTER, _PITCH_JITTER = 15.0, 10.0
_POLE_PITCH = (55.0, 70.0)
_MIN_GAP_DEG = 4.0


def parse_size(size: str | tuple[int, int]) -> tuple[int, int]:
    """``"512x256"`` or ``(512, 256)`` -> ``(width, height)``; ERP panoramas are 2:1."""
    if isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if match is None:
            raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 512x256, got {size!r}")
        width, height = int(match.group(1)), int(match.group(2))
    else:
        if len(size) != 2:
            raise ValueError(f"size must be (width, height), got {size!r}")
        width, height = int(size[0]), int(size[1])
    if height < 8 or width != 2 * height:
        raise ValueError(f"size must be a 2:1 ERP of at least 16x8 pixels, got {width}x{height}")
    return width, height


def _place(direction: str, rng: np.random.Generator) -> tuple[float, float]:
    if direction in _HORIZON:
        yaw = wrap_yaw(_HORIZON[direction] + rng.uniform(-_YAW_JITTER, _YAW_JITTER))
        return float(yaw), float(rng.uniform(-_PITCH_JITTER, _PITCH_JITTER))
    pitch = rng.uniform(*_POLE_PITCH) * (1.0 if direction == "above" else -1.0)
    return float(rng.uniform(-180.0, 180.0)), float(pitch)


def _separated(obj: ShapeObject, others: list[ShapeObject]) -> bool:
    return all(
        great_circle_deg(obj.yaw_deg, obj.pitch_deg, o.yaw_deg, o.pitch_deg) > obj.radius_deg + o.radius_deg + _MIN_GAP_DEG
        for o in others
    )


def sample_scene(rng: np.random.Generator, max_objects: int = 3) -> list[ShapeObject]:
    """1..``max_objects`` objects in distinct directions, attributes uniform, never overlapping."""
    count = int(rng.integers(1, max_objects + 1))
    directions = [DIRECTIONS[i] for i in sorted(rng.choice(len(DIRECTIONS), size=count, replace=False))]
    objects: list[ShapeObject] = []
    for direction in directions:
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        size = list(SIZES)[int(rng.integers(len(SIZES)))]
        rotation = float(rng.uniform(-20.0, 20.0))
        # Poles may crowd each other's horizon neighbours; redraw the position until it is clear.
        for _ in range(100):
            yaw, pitch = _place(direction, rng)
            obj = ShapeObject(colour, shape, size, direction, yaw, pitch, rotation)
            if _separated(obj, objects):
                break
        else:
            raise RuntimeError(f"could not place a {size} object {direction} clear of {objects}")
        objects.append(obj)
    return objects


def describe(obj: ShapeObject) -> str:
    """``"a small blue triangle"``."""
    return f"a {obj.size} {obj.colour} {obj.shape}"


def scene_caption(objects: list[ShapeObject]) -> str:
    """Objects in the fixed direction order, e.g. ``"a large red circle in front and a small ..."``."""
    ordered = sorted(objects, key=lambda o: DIRECTIONS.index(o.direction))
    parts = [f"{describe(o)} {DIRECTION_PHRASES[o.direction]}" for o in ordered]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# Words read as a direction: the six names and their usual synonyms (free text, not only captions).
DIRECTION_WORDS: dict[str, str] = {d: d for d in DIRECTIONS} | {
    "ahead": "front", "forward": "front", "back": "behind", "rear": "behind",
    "over": "above", "overhead": "above", "up": "above",
    "under": "below", "beneath": "below", "underneath": "below", "down": "below",
}
_COLOUR_WINDOW = 3  # a colour counts for a shape when at most this many words precede the shape
_WORD = re.compile(r"[a-z]+")


def _shape_of(word: str) -> str | None:
    if word in SHAPES:
        return word
    if word.endswith("s") and word[:-1] in SHAPES:
        return word[:-1]
    return None


def _first_direction(words: Sequence[str], lo: int, hi: int) -> tuple[int, str] | None:
    """(index, direction) of the first direction word in ``words[lo:hi]``."""
    for k in range(lo, hi):
        if words[k] in DIRECTION_WORDS:
            return k, DIRECTION_WORDS[words[k]]
    return None


def parse_caption(text: str) -> list[dict[str, str | None]]:
    """Objects mentioned in a PanoShapes caption, an answer or free text, in order of mention.

    Each is ``{"size", "colour", "shape", "direction"}``, a field None when the text does not name it
    (a direct answer such as "a small blue triangle" names no direction). Every shape word (plurals
    too) is one object; its colour is the nearest colour word at most three words before it, its size
    the size word just before that; its direction is the first direction word (synonyms included)
    between it and the next object, or failing that one just before it. Case-insensitive; other words
    are ignored. A generator caption parses back to exactly its objects.
    """
    words = _WORD.findall(text.lower())
    shape_at = [i for i, w in enumerate(words) if _shape_of(w)]
    objects: list[dict[str, str | None]] = []
    free_from = 0  # words before this index already belong to an earlier object
    for n, i in enumerate(shape_at):
        start, colour = i, None
        for j in range(i - 1, max(free_from, i - _COLOUR_WINDOW) - 1, -1):
            if words[j] in COLOURS:
                colour, start = words[j], j
                break
        size = words[start - 1] if start - 1 >= free_from and words[start - 1] in SIZES else None
        next_shape = shape_at[n + 1] if n + 1 < len(shape_at) else len(words)
        after = _first_direction(words, i + 1, next_shape)
        direction = after if after is not None else _first_direction(words, free_from, start)
        objects.append({"size": size, "colour": colour, "shape": _shape_of(words[i]) or "",
                        "direction": direction[1] if direction else None})
        free_from = after[0] + 1 if after is not None else i + 1
    return objects


def scene_rows(objects: list[ShapeObject], url: str, rng: np.random.Generator) -> list[dict[str, str]]:
    """The CSV rows of one panorama: the scene, each occupied direction, one empty direction."""
    objects_json = json.dumps([o.to_dict() for o in objects], separators=(",", ":"))
    base = {"url": url, "objects": objects_json}
    rows = [{**base, "query": SCENE_QUERIES[int(rng.integers(len(SCENE_QUERIES)))],
             "annotation": scene_caption(objects), "target_direction": ""}]
    by_direction = {o.direction: o for o in objects}
    empty = [d for d in DIRECTIONS if d not in by_direction]
    asked = [o.direction for o in objects] + ([empty[int(rng.integers(len(empty)))]] if empty else [])
    for direction in asked:
        templates = QUERY_TEMPLATES[direction]
        answer = describe(by_direction[direction]) if direction in by_direction else NOTHING
        rows.append({**base, "query": templates[int(rng.integers(len(templates)))],
                     "annotation": answer, "target_direction": direction})
    return rows


def _panorama_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), SPLITS.index(split), int(index)])


def generate_split(out_dir: Path, split: str, count: int, seed: int, size: tuple[int, int],
                   backgrounds: str = "varied") -> Path:
    """Render ``count`` panoramas into ``out_dir/images`` and write ``out_dir/<split>.csv``."""
    width, height = size
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    for index in range(count):
        rng = _panorama_rng(seed, split, index)
        objects = sample_scene(rng)
        image, _ = render_panorama(objects, width, height, rng, backgrounds)
        name = f"{split}_{index:05d}.png"
        if not cv2.imwrite(str(image_dir / name), np.ascontiguousarray(image[..., ::-1])):  # RGB -> BGR
            raise OSError(f"could not write {image_dir / name}")
        rows.extend(scene_rows(objects, f"images/{name}", rng))
    csv_path = out_dir / f"{split}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def generate_panoshapes(out_dir: str | Path, train: int, val: int, test: int, seed: int = 0,
                        size: str | tuple[int, int] = (512, 256), backgrounds: str = "varied") -> dict[str, Path]:
    """Generate PanoShapes into ``out_dir``; returns ``{"train": csv, "val": csv, "test": csv, "images": dir}``.

    ``backgrounds``: one of ``BACKGROUND_LEVELS`` ("varied": smooth random backgrounds, the default;
    "plain": one grey for every panorama, the easy level). Same arguments -> byte-identical CSVs and
    PNGs; the objects of panorama ``i`` do not depend on ``backgrounds`` (the query wording may).
    """
    check_background_level(backgrounds)
    counts = {"train": train, "val": val, "test": test}
    for split, count in counts.items():
        if int(count) < 0:
            raise ValueError(f"{split} must be a panorama count >= 0, got {count}")
    out = Path(out_dir)
    resolved = parse_size(size)
    paths = {split: generate_split(out, split, int(count), seed, resolved, backgrounds)
             for split, count in counts.items()}
    paths["images"] = out / "images"
    return paths


def panoshapes_corpus(n: int, seed: int = 0) -> list[str]:
    """Sentences covering PanoShapes' language, for training a tokenizer.

    Starts with every query template, scene query, the QuIC prompt around each, every
    "a <size> <colour> <shape>", every direction phrase and "nothing", then adds captions of random
    scenes until the list holds ``n`` sentences (it never holds fewer than the full vocabulary).
    """
    queries = [q for templates in QUERY_TEMPLATES.values() for q in templates] + list(SCENE_QUERIES)
    sentences = queries + [QUIC_PROMPT.format(query=q) for q in queries] + [NOTHING]
    for size in SIZES:
        for colour in COLOURS:
            for shape in SHAPES:
                obj = ShapeObject(colour, shape, size, "front", 0.0, 0.0)
                sentences += [describe(obj)] + [f"{describe(obj)} {p}" for p in DIRECTION_PHRASES.values()]
    rng = np.random.default_rng([int(seed), len(SPLITS)])
    while len(sentences) < n:
        sentences.append(scene_caption(sample_scene(rng)))
    return sentences

