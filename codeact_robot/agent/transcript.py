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


#: Largest line of one record; larger fields are replaced by a note of their size.
MAX_RECORD_CHARS = 512_000
#: Characters one episode may write; after that only its episode_end record is written.
MAX_EPISODE_CHARS = 16_000_000
_FIELD_KEPT_CHARS = 2_000


class Transcript:
    """Append-only JSONL log of one episode (``runs_dir/<UTC time>-<task slug>.jsonl``).

    Every record gets ``event``, ``t`` (seconds since the episode started) and ``time`` (UTC
    ISO 8601). Each line is flushed and fsynced when written. The file is bounded: a record
    over ``max_record_chars`` keeps its small fields and says which were cut; once the
    episode has written ``max_episode_chars``, a ``transcript_budget_reached`` record is the
    last but for ``episode_end``.
    """

    def __init__(self, runs_dir: Path, task: str, max_record_chars: int = MAX_RECORD_CHARS,
                 max_episode_chars: int = MAX_EPISODE_CHARS) -> None:
        runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')
        self.path = runs_dir / f'{stamp}-{_slug(task)}.jsonl'
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._file = self.path.open('x', encoding='utf-8')
        self._max_record = max_record_chars
        self._budget = max_episode_chars
        self._written = 0
        self._exhausted = False

    def write(self, event: str, **fields: Any) -> None:
        """Append one record (cut to the bounds) and push it to disk."""
        record = {'event': event, 't': round(time.monotonic() - self._start, 3),
                  'time': datetime.now(timezone.utc).isoformat(), **fields}
        line = json.dumps(record, ensure_ascii=False, default=_plain)
        if len(line) > self._max_record:
            line = self._cut(record)
        with self._lock:
            if self._file.closed or (self._exhausted and event != 'episode_end'):
                return
            if not self._exhausted and self._written + len(line) > self._budget:
                self._exhausted = True
                note = json.dumps({'event': 'transcript_budget_reached', 't': record['t'],
                                   'time': record['time'], 'written_chars': self._written,
                                   'budget_chars': self._budget})
                self._append(note)
                if event != 'episode_end':
                    return
            self._append(line)

    def _append(self, line: str) -> None:
        self._file.write(line + '\n')
        self._file.flush()
        os.fsync(self._file.fileno())
        self._written += len(line) + 1

    @staticmethod
    def _cut(record: dict[str, Any]) -> str:
        """Return the record with every large field replaced by a note of its size."""
        kept: dict[str, Any] = {}
        cut: dict[str, int] = {}
        for key, value in record.items():
            text = json.dumps(value, ensure_ascii=False, default=_plain)
            if len(text) <= _FIELD_KEPT_CHARS:
                kept[key] = value
            else:
                cut[key] = len(text)
                kept[key] = text[:_FIELD_KEPT_CHARS] + f'... [{len(text)} characters in all]'
        kept['cut_fields'] = cut
        return json.dumps(kept, ensure_ascii=False, default=_plain)

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
