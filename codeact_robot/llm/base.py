"""The one interface every LLM backend implements, its result type and its errors."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

Message = dict[str, str]
"""A chat message: {'role': 'system' | 'user' | 'assistant', 'content': str}."""

TokenCallback = Callable[[str], None]


class LlmError(RuntimeError):
    """Base class of LLM backend failures (infrastructure errors, not the model's mistakes)."""


class LlmUnavailableError(LlmError):
    """The backend cannot be reached or loaded (server down, package or model file missing)."""


class ModelNotFoundError(LlmError):
    """The server answers but does not have the requested model."""


class ContextOverflowError(LlmError):
    """The conversation does not fit the model's context window."""


class GenerationTimeoutError(LlmError):
    """Generation did not finish within the per-turn time limit."""


class GenerationCancelledError(LlmError):
    """Generation was cancelled by the caller."""


@dataclass
class Completion:
    """One model reply with its token counts and timings.

    ``cached_tokens`` is how many prompt tokens were reused from the KV cache (None when the
    backend does not report it); ``first_token_seconds`` is the latency until the first token
    (mostly prompt processing).
    """

    text: str
    backend: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = 'stop'
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed after the first token, when token counts are known."""
        if not self.completion_tokens or self.first_token_seconds is None:
            return None
        gen = self.seconds - self.first_token_seconds
        return self.completion_tokens / gen if gen > 0 else None

    def to_dict(self) -> dict[str, object]:
        """Plain-data form for transcripts and benchmarks."""
        out = asdict(self)
        out['tokens_per_second'] = self.tokens_per_second
        return out


@dataclass(frozen=True)
class PrefillProgress:
    """How far the processing of one long prompt got."""

    done: int  # prompt tokens processed so far
    total: int  # prompt tokens to process (what the KV cache did not hold)
    seconds: float  # since processing began
    saved: bool  # the processed system prompt is saved for the next run

    @property
    def rate(self) -> float:
        """Tokens per second so far (0 before the first chunk)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Estimated seconds to the end at the rate so far (None before the first chunk)."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


class LlmBackend(ABC):
    """A chat model: send the whole message list, get one completion.

    Backends keep per-episode state (e.g. the llama.cpp KV cache); call ``reset()`` when a new
    episode starts. ``complete`` is called from one thread at a time; ``cancel`` may be set from
    any thread and is checked between streamed tokens.
    """

    name: str = 'base'

    def __init__(self, model: str) -> None:
        self.model = model
        #: Called while a long prompt is processed (backends that process it here, on the
        #: CPU, call it; servers do not): how far, how fast, whether it is saved.
        self.on_prefill: Callable[[PrefillProgress], None] | None = None

    @abstractmethod
    def complete(self, messages: Sequence[Message], *, stop: Sequence[str] = (),
                 max_tokens: int = 512, timeout: float = 120.0,
                 on_token: TokenCallback | None = None,
                 cancel: threading.Event | None = None) -> Completion:
        """Generate the assistant's next message.

        Args:
            messages: The conversation so far, system message first.
            stop: Strings that end generation (not included in the text).
            max_tokens: Upper bound on generated tokens.
            timeout: Seconds for the whole generation; GenerationTimeoutError after that.
            on_token: Called with each streamed text piece.
            cancel: When set, generation stops with GenerationCancelledError.

        Returns:
            The completion with token counts and timings.
        """

    def reset(self) -> None:
        """Forget per-episode state (caches); the next call starts a new conversation."""
        # Stateless backends (HTTP servers) have nothing to forget.
        return None

    def close(self) -> None:
        """Release connections, models and memory."""
        return None

    def describe(self) -> str:
        """Return 'backend:model' for logs and transcripts."""
        return f'{self.name}:{self.model}'


class StreamGuard:
    """Deadline and cancel checks shared by the streaming backends."""

    def __init__(self, timeout: float, cancel: threading.Event | None, what: str) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.timeout = timeout
        self.cancel = cancel
        self.what = what
        self.first_token: float | None = None

    def check(self) -> None:
        """Raise GenerationCancelledError or GenerationTimeoutError when due."""
        if self.cancel is not None and self.cancel.is_set():
            raise GenerationCancelledError(f'{self.what}: generation cancelled')
        if time.monotonic() > self.deadline:
            raise GenerationTimeoutError(
                f'{self.what}: no complete answer within {self.timeout:.0f} s '
                '(raise the generation timeout or use a smaller/faster model)')

    def remaining(self) -> float:
        """Seconds left before the deadline (at least a small positive value)."""
        return max(0.05, self.deadline - time.monotonic())

    def token(self) -> None:
        """Record the arrival of a text piece."""
        if self.first_token is None:
            self.first_token = time.monotonic() - self.start

    def elapsed(self) -> float:
        """Seconds since the request started."""
        return time.monotonic() - self.start


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string; return the text and whether one was found."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """Rough token count (about 3.5 characters a token for English and code)."""
    chars = sum(len(m.get('content', '')) + 16 for m in messages)
    return int(chars / 3.5) + 1
