"""Spatial score for PanoShapes: does the text name the right object in the right direction?

A PanoShapes row carries ``objects`` (JSON list of ``{colour, shape, size, direction, ...}``) and
``target_direction`` (one of front/right/behind/left/above/below, or empty for a whole-scene query).
The vocabulary (colours, shapes, directions) is imported from :mod:`panovlm.data.synth`, the generator.

:func:`parse_objects` reads free text with the generator's own parser
(:func:`panovlm.data.synth.parse_caption`: every shape word, plurals too, is one mentioned object with
the nearest colour word before it and the first direction word after it; direction synonyms such as
ahead -> front, rear -> behind, overhead -> above, beneath -> below are read). Size is not scored.

:func:`direction_scores` compares sets of (colour, shape, direction) triples per row:

* direction query: truth = the object at ``target_direction`` (an empty set for an empty direction,
  whose reference is "nothing"); prediction = each mentioned object, at the direction the text names,
  else at ``target_direction`` (an answer like "a small red circle" is about the asked direction);
* scene query: truth = every object; prediction = each mentioned object at its named direction (an
  object mentioned without a direction cannot match).

Per row, TP = |pred & truth|, FP = |pred - truth|, FN = |truth - pred|; **direction_f1** is the micro F1
of these counts pooled over all labelled rows. A correct "nothing" adds no count at all, so a
constant "nothing" has recall 0 and F1 0; a constant object matches about 1 of 24 colour-shape pairs, and
listing every object everywhere has precision near 0. **per_direction_accuracy[d]** is the share of
direction queries about an occupied direction ``d`` whose predicted triple set equals the truth
exactly; **empty_direction_accuracy** is the share of empty-direction queries answered with no object.

Per-attribute accuracies show partial learning that the all-or-nothing triple hides. Over direction
queries about an occupied direction, **colour_accuracy** / **shape_accuracy** is the share whose answer
names exactly one object and that object has the true colour / shape (chance 1/6 and 1/4 for a model
that guesses an object uniformly); **presence_accuracy** is the share of all direction queries where
the answer names an object exactly when the direction is occupied. **scene_colour_accuracy** is
the share of those occupied-direction answers naming exactly one object whose colour is the colour
of some object of the panorama: well above colour_accuracy, it means the model sees what the
panorama holds but not where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from panovlm.data.synth import DIRECTIONS, parse_caption
from panovlm.evaluation.text import clean_text

Triple = tuple[str | None, str, str | None]


def parse_objects(text: str) -> list[Triple]:
    """``"a red circle in front and two blue stars to the left"`` ->
    ``[("red", "circle", "front"), ("blue", "star", "left")]``; colour or direction None when not named."""
    return [(o["colour"], o["shape"] or "", o["direction"]) for o in parse_caption(clean_text(text))]


def _truth(meta: Mapping) -> tuple[set[Triple], str, set[str]]:
    objects = meta["objects"]
    if isinstance(objects, str):
        try:
            objects = json.loads(objects)
        except json.JSONDecodeError as err:
            raise ValueError(f"'objects' must be a JSON list of objects, got {objects[:80]!r}: {err}") from err
    target = (meta.get("target_direction") or "").strip()
    if target and target not in DIRECTIONS:
        raise ValueError(f"target_direction must be one of {list(DIRECTIONS)} or empty, got {target!r}")
    triples = {(o["colour"], o["shape"], o["direction"]) for o in objects}
    scene_colours = {t[0] for t in triples}
    if target:
        triples = {t for t in triples if t[2] == target}
    return triples, target, scene_colours


def _row_counts(prediction: str, meta: Mapping) -> tuple[set[Triple], set[Triple], str, set[str]]:
    truth, target, scene_colours = _truth(meta)
    predicted = {(c, s, d if d is not None or not target else target) for c, s, d in parse_objects(prediction)}
    return predicted, truth, target, scene_colours


def _f1(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _attribute_hits(hits: dict[str, list[int]], predicted: set[Triple], truth: set[Triple],
                    scene_colours: set[str]) -> None:
    """Append this direction query's colour / shape / presence outcomes (see the module docstring)."""
    hits["presence"].append(int(bool(predicted) == bool(truth)))
    if not truth:
        return
    (true_colour, true_shape, _), = truth  # a direction holds at most one object
    only = next(iter(predicted)) if len(predicted) == 1 else None
    hits["colour"].append(int(only is not None and only[0] == true_colour))
    hits["scene_colour"].append(int(only is not None and only[0] in scene_colours))
    hits["shape"].append(int(only is not None and only[1] == true_shape))


def has_spatial_labels(samples_meta: Sequence[Mapping]) -> bool:
    """True when any row carries PanoShapes' ``objects`` label."""
    return any(meta and meta.get("objects") not in (None, "") for meta in samples_meta)


def direction_scores(predictions: Sequence[str], samples_meta: Sequence[Mapping]) -> dict:
    """Spatial score of ``predictions[i]`` against the PanoShapes labels ``samples_meta[i]``.

    Rows without an ``objects`` label are ignored. Returns ``direction_f1``, ``direction_precision``,
    ``direction_recall``, ``scene_f1`` (scene queries only), ``query_f1`` (direction queries only),
    ``per_direction_accuracy`` ({direction: accuracy}, occupied directions only),
    ``direction_accuracy`` (mean over those queries), ``empty_direction_accuracy``,
    ``colour_accuracy``, ``scene_colour_accuracy``, ``shape_accuracy``, ``presence_accuracy`` and counts;
    see the module docstring for the definitions.
    """
    if len(predictions) != len(samples_meta):
        raise ValueError(f"got {len(predictions)} predictions but {len(samples_meta)} label rows")
    counts = {"scene": [0, 0, 0], "query": [0, 0, 0]}
    hits: dict[str, list[int]] = {d: [] for d in DIRECTIONS}
    empty_hits: list[int] = []
    attribute_hits: dict[str, list[int]] = {"colour": [], "scene_colour": [], "shape": [], "presence": []}
    for prediction, meta in zip(predictions, samples_meta, strict=True):
        if not meta or meta.get("objects") in (None, ""):
            continue
        predicted, truth, target, scene_colours = _row_counts(prediction, meta)
        kind = counts["query" if target else "scene"]
        kind[0] += len(predicted & truth)
        kind[1] += len(predicted - truth)
        kind[2] += len(truth - predicted)
        if target:
            (hits[target] if truth else empty_hits).append(int(predicted == truth))
            _attribute_hits(attribute_hits, predicted, truth, scene_colours)
    total = [a + b for a, b in zip(counts["scene"], counts["query"], strict=True)]
    overall = _f1(*total)
    occupied = [h for d in DIRECTIONS for h in hits[d]]
    return {
        "direction_f1": overall["f1"],
        "direction_precision": overall["precision"],
        "direction_recall": overall["recall"],
        "scene_f1": _f1(*counts["scene"])["f1"],
        "query_f1": _f1(*counts["query"])["f1"],
        "per_direction_accuracy": {d: sum(h) / len(h) for d, h in hits.items() if h},
        "direction_accuracy": sum(occupied) / len(occupied) if occupied else None,
        "empty_direction_accuracy": sum(empty_hits) / len(empty_hits) if empty_hits else None,
        **{f"{name}_accuracy": sum(h) / len(h) if h else None for name, h in attribute_hits.items()},
        "num_direction_queries": len(occupied) + len(empty_hits),
        "num_scene_queries": sum(1 for m in samples_meta if m and m.get("objects") not in (None, ""))
        - len(occupied) - len(empty_hits),
    }
