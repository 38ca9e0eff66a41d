"""Clean-up of generated text before it is scored or shown.

What :func:`clean_text` removes, in this order:

1. reasoning blocks ``<think> ... </think>`` and a stray ``</think>`` (everything before it is reasoning);
2. special tokens ``<|...|>`` (``<|im_end|>``, ``<|endoftext|>``, ``<|vision|>``, ...) and the bare image
   markers ``<image>``, ``<img>``, ``</img>``, ``<vision_start>``, ``<vision_end>``, ``<image_pad>``;
3. leading role tags, repeated: ``assistant:``, ``Assistant``, ``USER:``, ``Question:``, ``Answer:``
   (case-insensitive; a bare ``assistant`` only when it stands on its own line, as a chat template
   leaves it after ``skip_special_tokens``);
4. runs of whitespace (newlines included) collapse to one space; the ends are stripped.

Case and punctuation are kept: the PTB tokenizer of the caption metrics lower-cases and drops
punctuation itself, and the spatial parser is case-insensitive. The origin also deleted "meta
sentences" ("Okay, let's ...") by pattern; we do not, because deleting sentences by pattern changes the
answer being scored. The same function is applied to references, where it only normalises whitespace.
"""

from __future__ import annotations

import re

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_TAIL = re.compile(r"^.*</think>", re.DOTALL | re.IGNORECASE)
_SPECIAL = re.compile(r"<\|[^|<>]*\|>|</?(?:image|img|vision_start|vision_end|image_pad)>", re.IGNORECASE)
_ROLE_COLON = re.compile(r"^\s*(?:assistant|user|system|question|answer)\s*:\s*", re.IGNORECASE)
_ROLE_LINE = re.compile(r"^\s*(?:assistant|user|system)\s*\n", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Generated (or reference) text -> the text that is scored; see the module docstring."""
    if text is None:
        return ""
    text = _THINK_BLOCK.sub(" ", str(text))
    text = _THINK_TAIL.sub(" ", text)
    text = _SPECIAL.sub(" ", text)
    previous = None
    while previous != text:
        previous = text
        text = _ROLE_LINE.sub("", text)
        text = _ROLE_COLON.sub("", text)
    return _SPACE.sub(" ", text).strip()
