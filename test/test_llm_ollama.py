"""Ollama backend against a local HTTP double of /api/chat, plus a live test when a server runs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codeact_robot.llm import (
    GenerationCancelledError,
    GenerationTimeoutError,
    LlmUnavailableError,
    ModelNotFoundError,
    create_backend,
)
from codeact_robot.llm.ollama_backend import OllamaBackend, ollama_available, ollama_host


class OllamaServerDouble:
    """Test double of an Ollama server: /api/version and streaming NDJSON /api/chat.

    Serves on 127.0.0.1 on an ephemeral port. Replies come from ``replies`` in order; the model
    name 'missing' gets the real server's 404 "model not found" error.
    """

    def __init__(self, replies: list[str], chunk_delay: float = 0.0) -> None:
        self.replies = list(replies)
        self.chunk_delay = chunk_delay
        self.requests: list[dict] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args: object) -> None:
                pass  # keep the test output clean

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if self.path == '/api/version':
                    self._json(200, {'version': '0.0.0-double'})
                else:
                    self._json(404, {'error': 'not found'})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                double.requests.append(body)
                if self.path != '/api/chat':
                    self._json(404, {'error': 'not found'})
                    return
                if body['model'] == 'missing':
                    self._json(404, {'error': f'model "{body["model"]}" not found, '
                                              'try pulling it first'})
                    return
                self.send_response(200)
                self.send_header('Content-Type', 'application/x-ndjson')
                self.send_header('Transfer-Encoding', 'chunked')
                self.end_headers()
                reply = double.replies.pop(0)
                try:
                    for line in double.chunks(body['model'], reply):
                        data = (json.dumps(line) + '\n').encode()
                        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
                        self.wfile.flush()
                        time.sleep(double.chunk_delay)
                    self.wfile.write(b'0\r\n\r\n')
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (cancel or timeout)

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def chunks(model: str, reply: str) -> Iterator[dict]:
        """The documented stream: one message piece per line, then done with the counts."""
        pieces = [reply[i:i + 4] for i in range(0, len(reply), 4)]
        for piece in pieces:
            yield {'model': model, 'created_at': '2026-01-01T00:00:00Z',
                   'message': {'role': 'assistant', 'content': piece}, 'done': False}
        yield {'model': model, 'created_at': '2026-01-01T00:00:01Z',
               'message': {'role': 'assistant', 'content': ''}, 'done': True,
               'done_reason': 'stop', 'total_duration': 2_000_000_000,
               'load_duration': 1_000_000, 'prompt_eval_count': 42,
               'prompt_eval_duration': 500_000_000, 'eval_count': len(pieces),
               'eval_duration': 1_000_000_000}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server():
    double = OllamaServerDouble(['```python\nprint("hi")\n```\nObservation: made up'] * 3)
    yield double
    double.close()


def _dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}'


MESSAGES = [{'role': 'system', 'content': 'You write Python.'},
            {'role': 'user', 'content': 'say hi'}]


def test_streams_reply_with_counts_and_settings(server):
    backend = OllamaBackend(model='qwen-test', host=server.url, temperature=0.2,
                            context_size=2048, keep_alive='5m')
    pieces: list[str] = []
    c = backend.complete(MESSAGES, stop=['\nObservation:'], max_tokens=64,
                         on_token=pieces.append)
    backend.close()
    assert c.text == '```python\nprint("hi")\n```'  # cut at the stop string
    assert len(pieces) > 3 and ''.join(pieces).startswith(c.text)
    assert c.prompt_tokens == 42 and c.completion_tokens == len(pieces)
    assert c.first_token_seconds is not None and c.extra['eval_seconds'] == 1.0
    req = server.requests[0]
    assert req['model'] == 'qwen-test' and req['stream'] is True
    assert req['messages'] == MESSAGES
    assert req['keep_alive'] == '5m'
    assert req['options']['temperature'] == 0.2
    assert req['options']['num_ctx'] == 2048
    assert req['options']['num_predict'] == 64
    assert req['options']['stop'] == ['\nObservation:']


def test_model_not_found_says_ollama_pull(server):
    backend = OllamaBackend(model='missing', host=server.url)
    with pytest.raises(ModelNotFoundError, match='ollama pull missing'):
        backend.complete(MESSAGES)


def test_server_down_is_a_clear_error():
    url = _dead_url()
    assert not ollama_available(url, timeout=0.5)
    backend = OllamaBackend(host=url)
    with pytest.raises(LlmUnavailableError, match='no Ollama server answers'):
        backend.complete(MESSAGES, timeout=5)


def test_generation_timeout_and_cancel():
    double = OllamaServerDouble(['x' * 400, 'y' * 400], chunk_delay=0.05)
    try:
        backend = OllamaBackend(host=double.url)
        with pytest.raises(GenerationTimeoutError):
            backend.complete(MESSAGES, timeout=0.3)
        cancel = threading.Event()
        with pytest.raises(GenerationCancelledError):
            backend.complete(MESSAGES, cancel=cancel,
                             on_token=lambda _piece: cancel.set())
    finally:
        double.close()


def test_context_overflow_is_detected_before_sending(server):
    from codeact_robot.llm import ContextOverflowError
    backend = OllamaBackend(host=server.url, context_size=256)
    with pytest.raises(ContextOverflowError, match='context'):
        backend.complete([{'role': 'user', 'content': 'word ' * 2000}])
    assert server.requests == []


def test_host_from_environment(monkeypatch, server):
    monkeypatch.setenv('OLLAMA_HOST', server.url.removeprefix('http://'))
    assert ollama_host() == server.url
    backend = create_backend('ollama', model='m')
    assert backend.complete(MESSAGES).text.startswith('```python')


def test_auto_prefers_a_running_ollama(server):
    backend = create_backend('auto', host=server.url, model='qwen-test')
    assert isinstance(backend, OllamaBackend)


def test_live_ollama_server():
    if not ollama_available(timeout=1.0):
        pytest.skip(f'no Ollama server answers at {ollama_host()}: live test not run')
    from codeact_robot.llm.ollama_backend import DEFAULT_MODEL
    backend = OllamaBackend(model=DEFAULT_MODEL)
    try:
        c = backend.complete([{'role': 'user', 'content': 'Reply with the word yes.'}],
                             max_tokens=8, timeout=120)
    except ModelNotFoundError as e:
        pytest.skip(f'live Ollama server lacks the default model: {e}')
    assert c.text.strip() and c.completion_tokens


def test_auto_without_ollama_or_model_explains_both(tmp_path):
    with pytest.raises(LlmUnavailableError, match='no Ollama server answers'):
        create_backend('auto', host=_dead_url(), model_path=tmp_path / 'missing.gguf')
