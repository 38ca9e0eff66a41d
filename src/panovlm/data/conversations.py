"""Multi-turn training conversations from single-question samples (``data.conversations: per_image``).

:func:`conversations_per_image` merges one image's questions into conversations in which no answer
can be copied from another turn; :func:`shuffle_turns` reorders a merged conversation's questions,
which the data loader does at every training access.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable

from panovlm.data.datasets import Sample


def conversations_per_image(samples: Iterable[Sample], max_turns: int | None = None) -> list[Sample]:
    """Merge the single-turn samples of each image into multi-turn conversations (LLaVA style).

    One image's questions become the turns of one conversation, in file order (the system message is
    kept once; training reorders them with :func:`shuffle_turns`), so one encoding of the views
    supervises every answer. ``max_turns`` splits longer groups into several conversations. Used for
    training; evaluation keeps one sample per question.

    No two turns of a conversation may copy each other: an answer that contains another (whole
    words, case-insensitive; a scene caption lists every object a direction question asks for)
    would teach the model to copy text instead of reading the image, and evaluation asks every
    question alone. The turns that overlap the most others move out until no overlap is left; they
    form conversations of their own by the same rule.
    """
    if max_turns is not None and max_turns < 1:
        raise ValueError(f"max_turns must be None or an integer >= 1, got {max_turns}")
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(str(sample.image_path), []).append(sample)
    merged: list[Sample] = []
    for group in groups.values():
        for turns in _without_copies(group):
            step = max_turns or len(turns)
            merged += [_merge(turns[start:start + step]) for start in range(0, len(turns), step)]
    return merged


def _without_copies(group: list[Sample]) -> list[list[Sample]]:
    """Split one image's samples into lists (file order kept) in which no answer contains another."""
    answers = {id(s): " " + " ".join(re.findall(r"\w+", s.references[-1].lower())) + " " for s in group}

    def copies(a: Sample, b: Sample) -> bool:
        return a is not b and (answers[id(a)] in answers[id(b)] or answers[id(b)] in answers[id(a)])

    kept, moved = list(group), []
    while True:
        degrees = [sum(copies(a, b) for b in kept) for a in kept]
        if not degrees or max(degrees) == 0:
            break
        moved.append(kept.pop(degrees.index(max(degrees))))
    moved.sort(key=group.index)
    return [kept] + (_without_copies(moved) if moved else [])


def _merge(chunk: list[Sample]) -> Sample:
    messages = [m for m in chunk[0].messages if m["role"] == "system"]
    for sample in chunk:
        messages += [m for m in sample.messages if m["role"] != "system"]
    # Each merged sample is one unit of turns; shuffle_turns permutes whole units, never inside one.
    units = [[len([m for m in s.messages if m["role"] != "system"]), len(s.references)] for s in chunk]
    return Sample(image_path=chunk[0].image_path, messages=messages, sample_id="+".join(s.sample_id for s in chunk),
                  references=[r for s in chunk for r in s.references],
                  meta={"url": chunk[0].meta.get("url"), "turns": len(chunk), "turn_units": units})


def shuffle_turns(sample: Sample, rng: random.Random | None = None) -> Sample:
    """A merged conversation (:func:`conversations_per_image`) with its merged questions in random order.

    The questions of one image are independent, so their file order carries no meaning, but a fixed
    order is a shortcut: PanoShapes lists the occupied directions first, in a fixed direction order,
    and a model trained on that order answers "the first object" to whatever is asked first (which
    is how evaluation asks every question). Other samples are returned unchanged. ``rng`` defaults
    to the ``random`` module (seeded per worker by the data loader).
    """
    units = sample.meta.get("turn_units")
    if not units or len(units) < 2:
        return sample
    system = [m for m in sample.messages if m["role"] == "system"]
    turns, references = [m for m in sample.messages if m["role"] != "system"], list(sample.references)
    chunks, starts = [], [0, 0]
    for n_messages, n_references in units:
        chunks.append((turns[starts[0]:starts[0] + n_messages], references[starts[1]:starts[1] + n_references]))
        starts = [starts[0] + n_messages, starts[1] + n_references]
    (rng or random).shuffle(chunks)
    return dataclasses.replace(sample, messages=system + [m for c in chunks for m in c[0]],
                               references=[r for c in chunks for r in c[1]])
