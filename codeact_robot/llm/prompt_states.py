"""Saved llama.cpp states of long prompt prefixes, so a new process skips the system prompt.

The embedded model processes prompts at ~20 tokens/s on 2 cores: the ~2,000-token CodeAct system
prompt costs minutes at the first turn of every `codeact-robot run`. The system prompt is the
same from run to run (same world, same API), so the KV state after it is saved once to disk and
loaded by later processes in well under a second.

A state is only valid for the same model file, llama.cpp build, context size and exact token
ids; all of them go into the file's key, so a stale file is simply never found. Files are
written atomically and the oldest are removed beyond ``max_files``.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from pathlib import Path

MAGIC = b'CARKV1\n'
SUFFIX = '.kvstate'


class PromptStateStore:
    """A folder of model states, each keyed by the model, the context and the prompt tokens."""

    def __init__(self, folder: str | Path, model_identity: str, max_files: int = 4) -> None:
        """Create the store.

        Args:
            folder: Where state files go (created on the first save).
            model_identity: What makes a state valid: model file, its size, the llama.cpp
                version and the context size, e.g. ``"qwen.gguf:1117320768:0.3.16:4096"``.
            max_files: How many states to keep; the least recently used are removed.
        """
        if max_files < 1:
            raise ValueError('max_files must be at least 1')
        self.folder = Path(folder).expanduser()
        self.model_identity = model_identity
        self.max_files = max_files

    def path_for(self, tokens: Sequence[int]) -> Path:
        """Return the file a state of exactly these prompt tokens lives in."""
        digest = hashlib.sha256(self.model_identity.encode('utf-8'))
        digest.update(struct.pack(f'<{len(tokens)}i', *tokens))
        return self.folder / f'{digest.hexdigest()[:32]}{SUFFIX}'

    def load(self, tokens: Sequence[int]) -> bytes | None:
        """Return the saved state of these tokens, or None when there is none (or it is bad)."""
        path = self.path_for(tokens)
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        header = MAGIC + struct.pack('<q', len(tokens))
        if not blob.startswith(header):
            path.unlink(missing_ok=True)  # truncated or foreign: never try it again
            return None
        os.utime(path)  # recently used: evicted last
        return blob[len(header):]

    def save(self, tokens: Sequence[int], state: bytes) -> Path:
        """Write the state of these tokens atomically and drop the oldest files beyond the cap."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(tokens)
        tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
        try:
            with tmp.open('wb') as f:
                f.write(MAGIC + struct.pack('<q', len(tokens)))
                f.write(state)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._evict(keep=path)
        return path

    def discard(self, tokens: Sequence[int]) -> None:
        """Remove the state of these tokens (e.g. llama.cpp refused it)."""
        self.path_for(tokens).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """Return the state files, most recently used first."""
        if not self.folder.is_dir():
            return []
        found = []
        for p in self.folder.glob(f'*{SUFFIX}'):
            try:
                found.append((p.stat().st_mtime, p))
            except OSError:
                continue  # removed by another process meanwhile
        return [p for _, p in sorted(found, reverse=True)]

    def _evict(self, keep: Path) -> None:
        for old in [p for p in self.files() if p != keep][self.max_files - 1:]:
            old.unlink(missing_ok=True)
