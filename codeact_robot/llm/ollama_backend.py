"""Ollama backend: a local or remote Ollama server through the ``ollama`` client, streamed."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import httpx
import ollama

from codeact_robot.llm.base import (
    Completion,
    ContextOverflowError,
    GenerationTimeoutError,
    LlmBackend,
    LlmError,
    LlmUnavailableError,
    Message,
    ModelNotFoundError,
    StreamGuard,
    TokenCallback,
    estimate_tokens,
    truncate_at_stop,
)

DEFAULT_HOST = 'http://127.0.0.1:11434'
DEFAULT_MODEL = 'qwen2.5-coder:1.5b'


def ollama_host(host: str | None = None) -> str:
    """Return the server URL: ``host``, else $OLLAMA_HOST, else the local default."""
    url = host or os.environ.get('OLLAMA_HOST') or DEFAULT_HOST
    if '://' not in url:
        url = 'http://' + url
    return url.rstrip('/')


def ollama_available(host: str | None = None, timeout: float = 1.0) -> bool:
    """Return True when an Ollama server answers GET /api/version at ``host``."""
    try:
        r = httpx.get(ollama_host(host) + '/api/version', timeout=timeout)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


class OllamaBackend(LlmBackend):
    """Chat with a model served by Ollama (``/api/chat``, streaming NDJSON)."""

    name = 'ollama'

    def __init__(self, model: str = DEFAULT_MODEL, host: str | None = None,
                 temperature: float = 0.0, context_size: int = 8192,
                 keep_alive: str | float = '10m', connect_timeout: float = 3.0,
                 seed: int | None = 0) -> None:
        super().__init__(model)
        self.host = ollama_host(host)
        self.temperature = temperature
        self.context_size = context_size
        self.keep_alive = keep_alive
        self.seed = seed
        self._connect_timeout = connect_timeout
        self._client = ollama.Client(host=self.host,
                                     timeout=httpx.Timeout(600.0, connect=connect_timeout))

    def complete(self, messages: Sequence[Message], *, stop: Sequence[str] = (),
                 max_tokens: int = 512, timeout: float = 120.0,
                 on_token: TokenCallback | None = None,
                 cancel: threading.Event | None = None) -> Completion:
        """Stream one reply from /api/chat; see LlmBackend.complete."""
        estimate = estimate_tokens(messages)
        if estimate > self.context_size:
            raise ContextOverflowError(
                f'the conversation (~{estimate} tokens) exceeds the context of '
                f'{self.context_size} tokens; raise context_size or shorten the task')
        options: dict[str, object] = {
            'temperature': self.temperature, 'num_ctx': self.context_size,
            'num_predict': max_tokens, 'stop': list(stop),
        }
        if self.seed is not None:
            options['seed'] = self.seed
        guard = StreamGuard(timeout, cancel, f'ollama {self.model}')
        pieces: list[str] = []
        final: ollama.ChatResponse | None = None
        try:
            stream = self._client.chat(model=self.model, messages=list(messages), stream=True,
                                       options=options, keep_alive=self.keep_alive)
            try:
                for chunk in stream:
                    guard.check()
                    piece = (chunk.message.content or '') if chunk.message else ''
                    if piece:
                        guard.token()
                        pieces.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if chunk.done:
                        final = chunk
                        break
            finally:
                stream.close()  # closes the HTTP response, also on cancel and timeout
        except ollama.ResponseError as e:
            raise self._map_response_error(e) from e
        except (ConnectionError, httpx.ConnectError) as e:
            raise LlmUnavailableError(
                f'no Ollama server answers at {self.host} ({e}); start it with `ollama serve` '
                'or set OLLAMA_HOST') from e
        except httpx.TimeoutException as e:
            raise GenerationTimeoutError(
                f'ollama {self.model}: the server did not answer in time ({e})') from e
        except httpx.HTTPError as e:
            raise LlmError(f'ollama {self.model}: HTTP error {e}') from e
        text, _ = truncate_at_stop(''.join(pieces), stop)
        reason = 'stop'
        if final is not None and final.done_reason:
            reason = final.done_reason
        return Completion(
            text=text, backend=self.name, model=self.model,
            prompt_tokens=final.prompt_eval_count if final else None,
            completion_tokens=final.eval_count if final else None,
            seconds=guard.elapsed(), first_token_seconds=guard.first_token,
            finish_reason=reason,
            extra=_durations(final),
        )

    def _map_response_error(self, e: ollama.ResponseError) -> LlmError:
        msg = str(e.error)
        if e.status_code == 404 or 'not found' in msg.lower():
            return ModelNotFoundError(
                f'Ollama at {self.host} does not have model "{self.model}": '
                f'run `ollama pull {self.model}` ({msg})')
        if 'context' in msg.lower():
            return ContextOverflowError(f'ollama {self.model}: {msg}')
        return LlmError(f'ollama {self.model}: {msg} (status {e.status_code})')

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _durations(final: ollama.ChatResponse | None) -> dict[str, float | int | str]:
    """Server-side timings (seconds) from the final streamed chunk."""
    out: dict[str, float | int | str] = {}
    if final is None:
        return out
    for key in ('prompt_eval_duration', 'eval_duration', 'load_duration', 'total_duration'):
        value = getattr(final, key, None)
        if value:
            out[key.replace('duration', 'seconds')] = value / 1e9
    return out
