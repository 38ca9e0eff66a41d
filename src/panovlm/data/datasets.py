"""Dataset readers: QuIC-360 CSV, instruction CSV and LLaVA-style JSON -> ``list[Sample]``.

A :class:`Sample` is an image path plus chat ``messages`` (``{"role", "content"}`` dicts) with no
image placeholder: the fusion layer inserts ``<|vision|>`` in the first user turn. Each reader
returns ``(samples, ReadReport)``: bad rows and missing images are counted, logged with file and
row, and skipped, or raise :class:`~panovlm.data.csv_io.DatasetError` under ``strict=True``. A
sample is never given a substitute image or an empty answer.

Relative image paths resolve against ``image_root`` (default: the folder of the CSV/JSON file).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from panovlm.data.csv_io import DatasetError, ReadReport, iter_csv_records, read_header

logger = logging.getLogger(__name__)

QUIC_PROMPT = 'In this panoramic image, please provide a concise but detailed description of "{query}".'
QUIC_COLUMNS: tuple[str, ...] = ("url", "query", "annotation")
INSTRUCTION_COLUMNS: tuple[str, ...] = ("url", "instruction", "response")
# Structured columns parsed from JSON into Sample.meta (PanoShapes writes "objects").
JSON_COLUMNS: tuple[str, ...] = ("objects",)
_LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass
class Sample:
    """One training/evaluation example.

    ``references`` are the assistant answers in turn order (for single-turn data, the caption);
    ``meta`` holds ``url`` and ``query`` (the grouping key of :func:`group_references`), the source
    line or item, and any extra columns (``objects`` parsed from JSON, ``target_direction``...).
    """

    image_path: Path
    messages: list[dict[str, str]]
    sample_id: str
    references: list[str]
    meta: dict = field(default_factory=dict)


class _ImageResolver:
    """Resolves urls against a root and remembers which files exist (many rows share one image)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._exists: dict[str, bool] = {}

    def resolve(self, url: str, report: ReadReport, where: str, strict: bool) -> Path | None:
        if url.startswith(("http://", "https://")):
            report.skip("remote_image", where, f"image {url!r} is a URL; download the images first", strict)
            return None
        path = Path(url) if Path(url).is_absolute() else self.root / url
        if url not in self._exists:
            self._exists[url] = path.is_file()
        if not self._exists[url]:
            report.skip("missing_image", where, f"image file not found: {path}", strict)
            return None
        return path


def _conversation(system_prompt: str | None, user: str, assistant: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _extra_meta(values: dict[str, str], used: Iterable[str], report: ReadReport, where: str,
                strict: bool) -> dict | None:
    meta: dict = {}
    for key, value in values.items():
        if key in used:
            continue
        if key in JSON_COLUMNS and value.strip():
            try:
                meta[key] = json.loads(value)
            except json.JSONDecodeError as err:
                report.skip("bad_json", where, f"column {key!r} is not valid JSON ({err.msg})", strict)
                return None
        else:
            meta[key] = value
    return meta


def _read_pair_csv(path: Path, columns: tuple[str, ...], make_prompt: Callable[[str], str], system_prompt: str | None,
                   image_root: Path | None, strict: bool) -> tuple[list[Sample], ReadReport]:
    """Shared body of the two CSV formats: ``columns`` = (url, question column, answer column)."""
    missing = [c for c in columns if c not in read_header(path)]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; this format needs {list(columns)}")
    url_col, question_col, answer_col = columns
    report, samples = ReadReport(source=str(path)), []
    images = _ImageResolver(image_root or path.parent)
    for record in iter_csv_records(path, report, strict):
        where, values = f"line {record.line}", record.values
        url, question, answer = (values[c].strip() for c in columns)
        if not url:
            report.skip("missing_field", where, f"empty {url_col!r}", strict)
            continue
        empty = [c for c, v in ((question_col, question), (answer_col, answer)) if not v]
        if empty:
            report.skip("empty_text", where, f"empty {' and '.join(repr(c) for c in empty)}", strict)
            continue
        meta = _extra_meta(values, columns, report, where, strict)
        image = None if meta is None else images.resolve(url, report, where, strict)
        if image is None:
            continue
        meta.update(url=url, query=question, line=record.line)
        samples.append(Sample(image_path=image, messages=_conversation(system_prompt, make_prompt(question), answer),
                              sample_id=f"{path.stem}:{record.line}", references=[answer], meta=meta))
    report.kept = len(samples)
    _log(report)
    return samples, report


def read_quic360_csv(path: str | Path, prompt_template: str = QUIC_PROMPT, system_prompt: str | None = None,
                     image_root: str | Path | None = None, strict: bool = False) -> tuple[list[Sample], ReadReport]:
    """QuIC-360 CSV (``url, query, annotation``): user = ``prompt_template`` around the query."""
    if "{query}" not in prompt_template:
        raise ValueError(f"prompt_template must contain '{{query}}', got {prompt_template!r}")
    return _read_pair_csv(Path(path), QUIC_COLUMNS, lambda q: prompt_template.format(query=q), system_prompt,
                          None if image_root is None else Path(image_root), strict)


def read_instruction_csv(path: str | Path, system_prompt: str | None = None, image_root: str | Path | None = None,
                         strict: bool = False) -> tuple[list[Sample], ReadReport]:
    """Instruction CSV (``url, instruction, response``): the instruction is the user turn as written."""
    return _read_pair_csv(Path(path), INSTRUCTION_COLUMNS, lambda q: q, system_prompt,
                          None if image_root is None else Path(image_root), strict)


def _llava_messages(item: object) -> tuple[str, list[dict[str, str]]]:
    """Validate one LLaVA item; returns (image, messages) or raises ValueError with the reason."""
    if not isinstance(item, dict) or not isinstance(item.get("conversations"), list):
        raise ValueError("expected an object with a 'conversations' list")
    image = item.get("image")
    if not isinstance(image, str) or not image.strip():
        raise KeyError("no 'image' (text-only items are not supported)")
    messages = []
    for turn in item["conversations"]:
        if not isinstance(turn, dict) or turn.get("from") not in _LLAVA_ROLES or not isinstance(turn.get("value"), str):
            raise ValueError(f"turn {turn!r} must be {{'from': one of {sorted(_LLAVA_ROLES)}, 'value': str}}")
        role = _LLAVA_ROLES[turn["from"]]
        # The literal <image> marks where LLaVA puts the image; our fusion layer places it itself.
        content = turn["value"].replace("<image>", "").strip() if role == "user" else turn["value"].strip()
        messages.append({"role": role, "content": content})
    roles = [m["role"] for m in messages if m["role"] != "system"]
    if not roles or roles != ["user", "assistant"] * (len(roles) // 2) or len(roles) % 2:
        raise ValueError(f"turns must alternate human/gpt, starting with human and ending with gpt; got {roles}")
    return image.strip(), messages


def read_llava_json(path: str | Path, system_prompt: str | None = None, image_root: str | Path | None = None,
                    strict: bool = False) -> tuple[list[Sample], ReadReport]:
    """LLaVA-style JSON: a list of ``{"image", "conversations": [{"from": "human"|"gpt", "value"}]}``.

    Multi-turn conversations are kept whole; ``system_prompt`` is prepended when an item has none.
    """
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of conversations, got {type(items).__name__}")
    report, samples = ReadReport(source=str(path), rows=len(items)), []
    images = _ImageResolver(Path(image_root) if image_root is not None else path.parent)
    for index, item in enumerate(items):
        where = f"item {index}"
        try:
            url, messages = _llava_messages(item)
        except KeyError as err:
            report.skip("missing_field", where, str(err.args[0]), strict)
            continue
        except ValueError as err:
            report.skip("bad_json", where, str(err), strict)
            continue
        if any(not m["content"] for m in messages if m["role"] != "system"):
            report.skip("empty_text", where, "a turn is empty", strict)
            continue
        image = images.resolve(url, report, where, strict)
        if image is None:
            continue
        if system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": system_prompt})
        users = [m["content"] for m in messages if m["role"] == "user"]
        meta = {"url": url, "query": users[-1], "item": index, "id": item.get("id")}
        samples.append(Sample(image_path=image, messages=messages, sample_id=f"{path.stem}:{item.get('id', index)}",
                              references=[m["content"] for m in messages if m["role"] == "assistant"], meta=meta))
    report.kept = len(samples)
    _log(report)
    return samples, report


def read_samples(path: str | Path, prompt_template: str = QUIC_PROMPT, system_prompt: str | None = None,
                 image_root: str | Path | None = None, strict: bool = False) -> tuple[list[Sample], ReadReport]:
    """Read any supported file: ``.json`` -> LLaVA; a CSV by its columns (QuIC-360 or instruction).

    ``prompt_template`` applies to QuIC-360 only (the other formats carry their own user text).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    common = {"system_prompt": system_prompt, "image_root": image_root, "strict": strict}
    if path.suffix.lower() == ".json":
        return read_llava_json(path, **common)
    header = set(read_header(path))
    if set(QUIC_COLUMNS) <= header:
        return read_quic360_csv(path, prompt_template=prompt_template, **common)
    if set(INSTRUCTION_COLUMNS) <= header:
        return read_instruction_csv(path, **common)
    raise DatasetError(f"{path}: columns {sorted(header)} match no format; expected {list(QUIC_COLUMNS)} "
                       f"(QuIC-360) or {list(INSTRUCTION_COLUMNS)} (instruction), or a .json LLaVA file")


def group_references(samples: Iterable[Sample]) -> dict[tuple[str, str], list[str]]:
    """All reference answers per (url, query) pair, in file order, for caption metrics.

    QuIC-360 has several annotations per (image, query); evaluation predicts once per pair and
    scores against all of them. The final assistant answer is the one a prediction is scored on.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for sample in samples:
        groups.setdefault((sample.meta["url"], sample.meta["query"]), []).append(sample.references[-1])
    return groups


def _log(report: ReadReport) -> None:
    if report.total_skipped:
        logger.warning("%s", report.summary())
    else:
        logger.info("%s", report.summary())
