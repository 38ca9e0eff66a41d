"""The run state file ``RUN_DIR/state.json``: which stages finished, which is running, where its files are.

Written atomically (temporary file + ``os.replace``), so a run killed at any moment leaves either the
previous or the new state, never half a file. ``--resume`` reads it to skip finished stages and to
continue the running one from its ``last.ckpt``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

VERSION = 1


class RunState:
    """Per-stage records: ``status`` (pending | running | completed), times, checkpoints, final model dir."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = Path(path)
        self.data = data

    @classmethod
    def load(cls, path: Path) -> RunState:
        path = Path(path)
        if not path.exists():
            return cls(path, {"version": VERSION, "stages": {}})
        data = json.loads(path.read_text())
        if data.get("version") != VERSION:
            raise ValueError(f"{path}: state file version {data.get('version')!r}, expected {VERSION}")
        return cls(path, data)

    def status(self, stage: str) -> str:
        return self.data["stages"].get(stage, {}).get("status", "pending")

    def record(self, stage: str) -> dict[str, Any]:
        return dict(self.data["stages"].get(stage, {}))

    def update(self, stage: str, **fields: Any) -> None:
        entry = self.data["stages"].setdefault(stage, {})
        entry.update(fields)
        entry["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)
