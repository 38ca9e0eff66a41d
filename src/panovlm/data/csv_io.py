"""Robust CSV reading for the dataset readers: line numbers, broken rows, a report of what was skipped.

The csv module handles quoted commas, quotes and newlines. What it cannot repair is a row whose
unquoted commas split a field (the origin's open TODO): that row has more fields than the header,
and is reported with the line it starts on instead of being silently shifted into wrong columns.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Reasons a row or item is skipped; ReadReport.skipped counts them.
SKIP_REASONS: tuple[str, ...] = (
    "broken_row",      # more fields than the header: an unquoted comma
    "missing_field",   # fewer fields than the header, or a required value absent
    "empty_text",      # an empty query / annotation / instruction / response
    "bad_json",        # a JSON column or item that does not parse or has the wrong structure
    "missing_image",   # the image file does not exist
    "remote_image",    # an http(s) URL: download the images first
    "unreadable_image",  # the image file exists but does not decode (found when it is loaded)
)


class DatasetError(ValueError):
    """A bad row or item under ``strict=True``, or a file that cannot be read at all."""


@dataclass
class ReadReport:
    """What a reader kept and skipped in one file, with the first few messages (file and row named)."""

    source: str
    rows: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    locations: dict[str, list[str]] = field(default_factory=dict)  # reason -> every "line N" / "item N" skipped
    messages: list[str] = field(default_factory=list)
    max_messages: int = 10

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, where: str, detail: str, strict: bool) -> None:
        """Record a skipped row; under ``strict`` raise instead."""
        if reason not in SKIP_REASONS:
            raise ValueError(f"skip reason must be one of {list(SKIP_REASONS)}, got {reason!r}")
        message = f"{self.source}, {where}: {detail}"
        if strict:
            raise DatasetError(message)
        self.skipped[reason] += 1
        self.locations.setdefault(reason, []).append(where)
        if len(self.messages) < self.max_messages:
            self.messages.append(message)
            logger.warning("skipping %s", message)

    def merge(self, other: ReadReport) -> None:
        self.rows += other.rows
        self.kept += other.kept
        self.skipped.update(other.skipped)
        for reason, where in other.locations.items():
            self.locations.setdefault(reason, []).extend(where)
        self.messages.extend(other.messages[: max(0, self.max_messages - len(self.messages))])

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{self.source}: kept {self.kept} of {self.rows} rows; skipped {self.total_skipped} ({reasons})"


@dataclass(frozen=True)
class CsvRecord:
    """One data row: its values by column and the (1-based) file line it starts on."""

    line: int
    values: dict[str, str]


def read_header(path: Path) -> list[str]:
    """Column names of a CSV (stripped; a UTF-8 BOM is ignored)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise DatasetError(f"{path}: empty file, expected a header row")
    return [name.strip() for name in header]


def iter_csv_records(path: Path, report: ReadReport, strict: bool) -> Iterator[CsvRecord]:
    """Yield the well-formed rows of ``path``; rows with the wrong field count go to ``report``.

    Blank lines are not rows. Values are kept as written (not stripped): readers decide.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise DatasetError(f"{path}: empty file, expected a header row")
        if len(set(header)) != len(header):
            raise DatasetError(f"{path}: duplicate column names in header {header}")
        end_of_previous = reader.line_num
        for fields in reader:
            start, end_of_previous = end_of_previous + 1, reader.line_num
            if not fields:
                continue
            report.rows += 1
            if len(fields) > len(header):
                report.skip("broken_row", f"line {start}",
                            f"{len(fields)} fields but the header has {len(header)} "
                            "(an unquoted comma? quote fields that contain commas)", strict)
                continue
            if len(fields) < len(header):
                report.skip("missing_field", f"line {start}",
                            f"{len(fields)} fields but the header has {len(header)} ({header})", strict)
                continue
            yield CsvRecord(line=start, values=dict(zip(header, fields, strict=True)))
