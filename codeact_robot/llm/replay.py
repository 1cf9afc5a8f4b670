"""Replay backend: scripted completions for deterministic tests and demos without a model."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from codeact_robot.llm.base import (
    Completion,
    GenerationCancelledError,
    LlmBackend,
    LlmError,
    Message,
    TokenCallback,
    estimate_tokens,
    truncate_at_stop,
)


class ReplayExhaustedError(LlmError):
    """The agent asked for more turns than the script holds."""


def load_script(path: str | Path) -> list[str]:
    """Read completions from YAML or JSON: a list of strings or {'completions': [...]}."""
    path = Path(path)
    text = path.read_text(encoding='utf-8')
    data = json.loads(text) if path.suffix == '.json' else yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get('completions')
    if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
        raise ValueError(f'{path}: expected a list of completion strings '
                         "or a mapping with a 'completions' list")
    return data


class ReplayBackend(LlmBackend):
    """Return the scripted completions in order, one per call; reset() rewinds.

    The messages of every call are kept in ``calls`` so tests can check what the model saw.
    """

    name = 'replay'

    def __init__(self, completions: Sequence[str] | None = None,
                 script: str | Path | None = None, model: str = 'script') -> None:
        super().__init__(model)
        if completions is None and script is None:
            raise ValueError('ReplayBackend needs completions or a script file')
        self.completions = list(completions) if completions is not None else load_script(
            script)  # type: ignore[arg-type]
        self.calls: list[list[Message]] = []
        self._next = 0

    def complete(self, messages: Sequence[Message], *, stop: Sequence[str] = (),
                 max_tokens: int = 512, timeout: float = 120.0,
                 on_token: TokenCallback | None = None,
                 cancel: threading.Event | None = None) -> Completion:
        """Return the next scripted completion; see LlmBackend.complete."""
        start = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise GenerationCancelledError('replay: generation cancelled')
        self.calls.append([dict(m) for m in messages])
        if self._next >= len(self.completions):
            raise ReplayExhaustedError(
                f'replay script has only {len(self.completions)} completions')
        raw = self.completions[self._next]
        self._next += 1
        text, _ = truncate_at_stop(raw, stop)
        if on_token is not None:
            # In pieces, as a model streams: what listens (the CLI) sees the same calls.
            for piece in re.findall(r'\S+\s*|\s+', text) or [text]:
                on_token(piece)
        return Completion(text=text, backend=self.name, model=self.model,
                          prompt_tokens=estimate_tokens(messages),
                          completion_tokens=estimate_tokens([{'content': text}]),
                          seconds=time.monotonic() - start, first_token_seconds=0.0)

    def reset(self) -> None:
        """Rewind to the first completion."""
        self._next = 0
