"""Episode transcripts: one JSON object per line, flushed as it goes so a crash loses nothing."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')
    return slug[:limit].rstrip('-') or 'episode'


class Transcript:
    """Append-only JSONL log of one episode (``runs_dir/<UTC time>-<task slug>.jsonl``).

    Every record gets ``event``, ``t`` (seconds since the episode started) and ``time`` (UTC
    ISO 8601). Each line is flushed and fsynced when written.
    """

    def __init__(self, runs_dir: Path, task: str) -> None:
        runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')
        self.path = runs_dir / f'{stamp}-{_slug(task)}.jsonl'
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._file = self.path.open('x', encoding='utf-8')

    def write(self, event: str, **fields: Any) -> None:
        """Append one record and push it to disk."""
        record = {'event': event, 't': round(time.monotonic() - self._start, 3),
                  'time': datetime.now(timezone.utc).isoformat(), **fields}
        line = json.dumps(record, ensure_ascii=False, default=_plain)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + '\n')
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (later writes are dropped)."""
        with self._lock:
            self._file.close()


def _plain(value: Any) -> Any:
    """JSON fallback for dataclasses, enums and paths."""
    if hasattr(value, 'to_dict'):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, 'value'):
        return value.value
    return str(value)


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """Read a transcript back as a list of records."""
    with path.open(encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]
