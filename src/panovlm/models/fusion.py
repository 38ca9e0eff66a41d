"""Language fusion: chat template, the ``<|vision|>`` placeholder, label masking, placeholder expansion.

Where the vision tokens go (the same rule in training and generation):
the text holds ONE ``<|vision|>`` token at the start of the first user turn. Before the LM runs, that
one token becomes the *vision span* (``vision_span``): ``N = V * S'`` copies of itself, view after view,
each view's copies optionally preceded by its view tag (the token ids of a direction word such as
" front", ``PanoLLaVaConfig.view_tags``), so the LM can match a direction in the question to the
view's tokens by the same word embedding. ``expand_vision_placeholders`` is the one expansion; the
model writes the projected vision tokens over the copies, after checking that there is one copy per
feature (``check_vision_placeholders``). The processor expands generation prompts and the
training data module expands batches up front, so ``generate`` sees the real sequence length and its
KV cache and attention mask line up; compact ids given straight to the model are expanded there by
``expand_compact_prompts``.

Truncation policy (``build_training_example``): ``max_length`` counts text tokens, the placeholder as
one. Overlong conversations are cut from the END; the placeholder sits in the first user turn and is
never cut (a ``max_length`` too short to keep it is an error). If the cut leaves no assistant token to
learn from, the sample is an error naming it, never a silent no-op.

Shapes: ``input_ids`` / ``attention_mask`` / ``labels`` are (B, T) before and (B, T + L - 1) after
expansion, L = len(vision span) (N without view tags).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

IGNORE_INDEX = -100
DEFAULT_VISION_TOKEN = "<|vision|>"
DEFAULT_PROMPT = "Describe the panoramic scene."  # the instruction when a caller gives an image and no text

# ChatML (the Qwen family's format); used when the tokenizer has no template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> None:
    """Give the tokenizer the ChatML template if it has none (its own template always wins)."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE


def ensure_vision_token(tokenizer: Any, vision_token: str = DEFAULT_VISION_TOKEN) -> tuple[int, bool]:
    """Register ``vision_token`` as a special token; returns (token id, whether it was newly added).

    When it was added, the caller must resize the LM's input embeddings to ``len(tokenizer)``.
    """
    added = 0
    if vision_token not in tokenizer.get_vocab():
        added = tokenizer.add_special_tokens({"additional_special_tokens": [vision_token]},
                                             replace_extra_special_tokens=False)
    return int(tokenizer.convert_tokens_to_ids(vision_token)), bool(added)


def _with_vision(messages: Sequence[dict], vision_token: str, add_vision: bool,
                 system_prompt: str | None) -> list[dict]:
    """Copy of ``messages`` with the placeholder at the start of the first user turn (and the system prompt)."""
    out = [{"role": m["role"], "content": str(m["content"])} for m in messages]
    for m in out:
        if m["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"message role must be system, user or assistant, got {m['role']!r}")
    if system_prompt and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": system_prompt})
    users = [m for m in out if m["role"] == "user"]
    if not users:
        raise ValueError("a conversation needs at least one user message")
    placed = sum(m["content"].count(vision_token) for m in out)
    if add_vision and placed == 0:
        users[0]["content"] = f"{vision_token}\n{users[0]['content']}"
    elif add_vision and placed != 1:
        raise ValueError(f"a conversation may hold at most one {vision_token} placeholder, found {placed}")
    elif not add_vision and placed:
        raise ValueError(f"add_vision=False but the text already holds {vision_token}")
    return out


def _ids(tokenizer: Any, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    ensure_chat_template(tokenizer)
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                        return_dict=False)
    return list(ids)


def build_training_example(
    tokenizer: Any,
    messages: Sequence[dict],
    max_length: int,
    vision_token: str = DEFAULT_VISION_TOKEN,
    system_prompt: str | None = None,
    add_vision: bool = True,
    sample_id: str | None = None,
) -> dict[str, list[int]]:
    """Token ids and labels of one conversation: labels are -100 except the assistant tokens (with end of turn).

    ``messages`` is a list of ``{"role", "content"}`` (multi-turn allowed). Raises ``ValueError`` naming the
    sample (``sample_id`` or the start of its first user message) when no label survives truncation.
    """
    msgs = _with_vision(messages, vision_token, add_vision, system_prompt)
    full = _ids(tokenizer, msgs, add_generation_prompt=False)
    labels = [IGNORE_INDEX] * len(full)
    eos_id = tokenizer.eos_token_id
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        start = len(_prefix(tokenizer, msgs[:i], full, add_generation_prompt=True))
        end = len(_prefix(tokenizer, msgs[: i + 1], full, add_generation_prompt=False))
        span = full[start:end]
        if eos_id is not None and eos_id in span:  # stop at the end-of-turn token, not the newline after it
            end = start + len(span) - span[::-1].index(eos_id)
        labels[start:end] = full[start:end]
    if add_vision:
        vision_id = tokenizer.convert_tokens_to_ids(vision_token)
        if full.index(vision_id) >= max_length:
            raise ValueError(f"max_length={max_length} would cut the {vision_token} placeholder "
                             f"(at position {full.index(vision_id)}) of sample {_name(sample_id, msgs)}")
    input_ids, labels = full[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError(f"sample {_name(sample_id, msgs)} has no assistant tokens to learn from after "
                         f"truncation to max_length={max_length} ({len(full)} tokens before)")
    return {"input_ids": input_ids, "labels": labels}


def _prefix(tokenizer: Any, msgs: list[dict], full: list[int], add_generation_prompt: bool) -> list[int]:
    ids = _ids(tokenizer, msgs, add_generation_prompt) if msgs else []
    if full[: len(ids)] != ids:
        raise ValueError("the chat template does not render a conversation prefix as a token prefix; "
                         "label masking needs a prefix-stable template (e.g. ChatML)")
    return ids


def _name(sample_id: str | None, msgs: list[dict]) -> str:
    if sample_id is not None:
        return repr(sample_id)
    first_user = next(m["content"] for m in msgs if m["role"] == "user")
    return repr(first_user[:60])


def build_generation_prompt(
    tokenizer: Any,
    messages_or_user_text: str | Sequence[dict],
    vision_token: str = DEFAULT_VISION_TOKEN,
    add_vision: bool = True,
    system_prompt: str | None = None,
) -> list[int]:
    """Prompt ids ending with the assistant header; the placeholder sits where training puts it."""
    if isinstance(messages_or_user_text, str):
        messages = [{"role": "user", "content": messages_or_user_text}]
    else:
        messages = list(messages_or_user_text)
    msgs = _with_vision(messages, vision_token, add_vision, system_prompt)
    return _ids(tokenizer, msgs, add_generation_prompt=True)


def vision_span(vision_token_id: int, num_views: int, tokens_per_view: int,
                view_tag_ids: Sequence[Sequence[int]] | None = None) -> list[int]:
    """The ids that replace the one placeholder: per view, its tag ids (if any), then ``tokens_per_view`` copies."""
    if view_tag_ids is not None and len(view_tag_ids) != num_views:
        raise ValueError(f"view_tag_ids has {len(view_tag_ids)} entries for {num_views} views")
    span: list[int] = []
    for v in range(num_views):
        if view_tag_ids is not None:
            span += [int(i) for i in view_tag_ids[v]]
        span += [vision_token_id] * tokens_per_view
    return span


def expand_vision_placeholders(
    input_ids: torch.Tensor,
    vision_token_id: int,
    span: int | Sequence[int],
    attention_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Replace the single placeholder of every row by the vision ``span``; labels there become -100.

    ``span``: the ids of :func:`vision_span`, or an int N for N plain copies. Every row must hold
    exactly one placeholder, so all rows grow by the same amount and left or right padding stays
    where it was.
    """
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
    is_vision = input_ids == vision_token_id  # (B, T)
    counts = is_vision.sum(dim=1)
    if not bool((counts == 1).all()):
        raise ValueError(f"each sample needs exactly one vision placeholder (id {vision_token_id}) to expand, "
                         f"found {counts.tolist()}")
    ids = [vision_token_id] * span if isinstance(span, int) else [int(i) for i in span]
    if all(i == vision_token_id for i in ids):
        return _repeat_placeholder(input_ids, is_vision, vision_token_id, len(ids), attention_mask, labels)
    at = is_vision.int().argmax(dim=1).tolist()  # the placeholder's column per row
    fill = torch.tensor(ids, dtype=input_ids.dtype, device=input_ids.device)  # (L,)

    def splice(t: torch.Tensor, value: torch.Tensor | None) -> torch.Tensor:
        rows = [torch.cat([t[b, :i], fill if value is None else value.expand(len(ids)), t[b, i + 1:]])
                for b, i in enumerate(at)]
        return torch.stack(rows)  # (B, T + L - 1)

    new_ids = splice(input_ids, None)
    new_mask = None
    if attention_mask is not None:
        new_mask = splice(attention_mask, attention_mask.new_ones(()))
    new_labels = None
    if labels is not None:
        new_labels = splice(labels, labels.new_full((), IGNORE_INDEX))
    return new_ids, new_mask, new_labels


def _repeat_placeholder(input_ids: torch.Tensor, is_vision: torch.Tensor, vision_token_id: int, copies: int,
                        attention_mask: torch.Tensor | None, labels: torch.Tensor | None) -> tuple:
    """The span without tags: the placeholder repeated ``copies`` times (mask and labels grow alike)."""
    batch = input_ids.shape[0]
    repeats = torch.where(is_vision, copies, 1).flatten()  # (B * T,)

    def grow(t: torch.Tensor) -> torch.Tensor:
        return t.flatten().repeat_interleave(repeats).view(batch, -1)  # (B, T + N - 1)

    new_ids = grow(input_ids)
    new_mask = grow(attention_mask) if attention_mask is not None else None
    new_labels = None
    if labels is not None:
        new_labels = grow(labels).masked_fill(new_ids == vision_token_id, IGNORE_INDEX)
    return new_ids, new_mask, new_labels


def expand_compact_prompts(input_ids: torch.Tensor, vision_token_id: int, span: int | Sequence[int],
                           attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                           ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Expand a batch whose rows hold ONE placeholder each; any other batch is returned as it is.

    The front door for compact ids given straight to the model (``build_training_example`` /
    ``build_generation_prompt`` output); the processor and the training data module expand up front,
    and the model then checks the count (``check_vision_placeholders``).
    """
    length = span if isinstance(span, int) else len(span)
    if length > 1 and bool(((input_ids == vision_token_id).sum(dim=1) == 1).all()):
        return expand_vision_placeholders(input_ids, vision_token_id, span, attention_mask, labels)
    return input_ids, attention_mask, labels


def check_vision_placeholders(input_ids: torch.Tensor, vision_token_id: int, num_views: int, tokens_per_view: int,
                              vision_token: str = DEFAULT_VISION_TOKEN) -> None:
    """Every row must hold exactly ``num_views * tokens_per_view`` placeholders: one per vision feature."""
    expected = num_views * tokens_per_view
    counts = (input_ids == vision_token_id).sum(dim=1)  # (B,)
    if not bool((counts == expected).all()):
        raise ValueError(f"every sample with an image needs {expected} {vision_token} placeholder tokens, one per vision "
                         f"feature ({num_views} views x {tokens_per_view} tokens), or one placeholder to expand; "
                         f"found {counts.tolist()}")


def pad_batch(sequences: Sequence[Sequence[int]], pad_value: int, padding_side: str = "left") -> torch.Tensor:
    """(B, T_max) long tensor of ragged ``sequences`` padded on ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    longest = max(len(s) for s in sequences)
    out = torch.full((len(sequences), longest), pad_value, dtype=torch.long)
    for i, seq in enumerate(sequences):
        if len(seq) == 0:
            continue
        if padding_side == "left":
            out[i, longest - len(seq):] = torch.as_tensor(seq, dtype=torch.long)
        else:
            out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out
