"""OpenAI-compatible backend: any server with POST /v1/chat/completions (vLLM, llama-server)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence

import httpx

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
    truncate_at_stop,
)

DEFAULT_BASE_URL = 'http://127.0.0.1:8000/v1'
_OVERFLOW_HINTS = ('context length', 'context_length', 'maximum context', 'too many tokens',
                   'exceeds the available context')


class OpenAiBackend(LlmBackend):
    """Chat with an OpenAI-compatible server, streaming server-sent events."""

    name = 'openai'

    def __init__(self, model: str = 'default', base_url: str | None = None,
                 api_key: str | None = None, temperature: float = 0.0,
                 connect_timeout: float = 3.0, seed: int | None = 0) -> None:
        super().__init__(model)
        self.base_url = (base_url or os.environ.get('OPENAI_BASE_URL')
                         or DEFAULT_BASE_URL).rstrip('/')
        self.temperature = temperature
        self.seed = seed
        headers = {'Content-Type': 'application/json'}
        key = api_key or os.environ.get('OPENAI_API_KEY')
        if key:
            headers['Authorization'] = f'Bearer {key}'
        self._client = httpx.Client(headers=headers,
                                    timeout=httpx.Timeout(600.0, connect=connect_timeout))

    def complete(self, messages: Sequence[Message], *, stop: Sequence[str] = (),
                 max_tokens: int = 512, timeout: float = 120.0,
                 on_token: TokenCallback | None = None,
                 cancel: threading.Event | None = None) -> Completion:
        """Stream one reply from /chat/completions; see LlmBackend.complete."""
        body: dict[str, object] = {
            'model': self.model, 'messages': list(messages), 'stream': True,
            'max_tokens': max_tokens, 'temperature': self.temperature,
            'stream_options': {'include_usage': True},
        }
        if stop:
            # The OpenAI API accepts at most 4 stop sequences.
            body['stop'] = list(stop)[:4]
        if self.seed is not None:
            body['seed'] = self.seed
        guard = StreamGuard(timeout, cancel, f'{self.base_url} {self.model}')
        pieces: list[str] = []
        usage: dict[str, object] = {}
        reason = 'stop'
        url = self.base_url + '/chat/completions'
        try:
            with self._client.stream('POST', url, json=body,
                                     timeout=httpx.Timeout(timeout, connect=3.0)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise self._map_status(r.status_code, r.text)
                for event in _sse_events(r.iter_lines()):
                    guard.check()
                    if event.get('error'):
                        raise LlmError(f'{url}: {event["error"]}')
                    if event.get('usage'):
                        usage = event['usage']
                    for choice in event.get('choices') or ():
                        piece = (choice.get('delta') or {}).get('content') or ''
                        if piece:
                            guard.token()
                            pieces.append(piece)
                            if on_token is not None:
                                on_token(piece)
                        if choice.get('finish_reason'):
                            reason = choice['finish_reason']
        except httpx.ConnectError as e:
            raise LlmUnavailableError(
                f'no OpenAI-compatible server answers at {self.base_url} ({e}); start it '
                '(e.g. `llama-server` or `vllm serve`) or set base_url') from e
        except httpx.TimeoutException as e:
            raise GenerationTimeoutError(f'{url}: no answer within {timeout:.0f} s') from e
        except httpx.HTTPError as e:
            raise LlmError(f'{url}: HTTP error {e}') from e
        text, _ = truncate_at_stop(''.join(pieces), stop)
        details = usage.get('prompt_tokens_details') or {}
        cached = details.get('cached_tokens') if isinstance(details, dict) else None
        return Completion(
            text=text, backend=self.name, model=self.model,
            prompt_tokens=_int(usage.get('prompt_tokens')),
            completion_tokens=_int(usage.get('completion_tokens')),
            cached_tokens=_int(cached), seconds=guard.elapsed(),
            first_token_seconds=guard.first_token, finish_reason=reason)

    def _map_status(self, status: int, text: str) -> LlmError:
        try:
            err = json.loads(text).get('error', text)
            msg = err.get('message', str(err)) if isinstance(err, dict) else str(err)
        except (json.JSONDecodeError, AttributeError):
            msg = text
        low = msg.lower()
        if any(h in low for h in _OVERFLOW_HINTS):
            return ContextOverflowError(f'{self.base_url} {self.model}: {msg}')
        if status == 404 or ('model' in low and 'not' in low and 'found' in low):
            return ModelNotFoundError(
                f'{self.base_url} does not serve model "{self.model}" ({msg}); '
                'check the server\'s /v1/models')
        return LlmError(f'{self.base_url} {self.model}: HTTP {status}: {msg}')

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _sse_events(lines: Iterator[str]) -> Iterator[dict]:
    """Yield the JSON payloads of ``data:`` lines until ``data: [DONE]``."""
    for line in lines:
        if not line.startswith('data:'):
            continue  # comments (': keep-alive'), event names and blank separators
        data = line[5:].strip()
        if data == '[DONE]':
            return
        if data:
            yield json.loads(data)
