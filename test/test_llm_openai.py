"""OpenAI-compatible backend against a local HTTP double of /v1/chat/completions (SSE)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codeact_robot.llm import (
    ContextOverflowError,
    LlmUnavailableError,
    ModelNotFoundError,
    create_backend,
)
from codeact_robot.llm.openai_backend import OpenAiBackend


class OpenAiServerDouble:
    """Test double of an OpenAI-compatible server (llama-server, vLLM) streaming SSE.

    Serves on 127.0.0.1 on an ephemeral port. Model 'missing' gets a 404 model_not_found;
    a request whose text exceeds ``context_chars`` gets the 400 context-length error.
    """

    def __init__(self, reply: str, context_chars: int = 10_000) -> None:
        self.reply = reply
        self.context_chars = context_chars
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                double.requests.append(body)
                double.headers.append(dict(self.headers))
                if self.path != '/v1/chat/completions':
                    return self._json(404, {'error': {'message': 'no such route'}})
                if body['model'] == 'missing':
                    return self._json(404, {'error': {
                        'message': f'The model `{body["model"]}` does not exist.',
                        'type': 'invalid_request_error', 'code': 'model_not_found'}})
                size = sum(len(m['content']) for m in body['messages'])
                if size > double.context_chars:
                    return self._json(400, {'error': {
                        'message': "This model's maximum context length is 4096 tokens. "
                                   f'However, your messages resulted in {size} tokens.',
                        'type': 'invalid_request_error'}})
                self.send_response(200)
                self.send_header('Content-Type', 'text/event-stream')
                self.send_header('Cache-Control', 'no-cache')
                self.send_header('Connection', 'close')
                self.end_headers()
                self.wfile.write(b': keep-alive comment\n\n')
                for event in double.events(body['model']):
                    self.wfile.write(f'data: {json.dumps(event)}\n\n'.encode())
                    self.wfile.flush()
                self.wfile.write(b'data: [DONE]\n\n')
                self.close_connection = True

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self, model: str) -> Iterator[dict]:
        """Chunks as the OpenAI streaming API sends them, then a usage-only chunk."""
        base = {'id': 'chatcmpl-1', 'object': 'chat.completion.chunk', 'created': 0,
                'model': model}
        yield {**base, 'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': ''},
                                    'finish_reason': None}]}
        pieces = [self.reply[i:i + 5] for i in range(0, len(self.reply), 5)]
        for piece in pieces:
            yield {**base, 'choices': [{'index': 0, 'delta': {'content': piece},
                                        'finish_reason': None}]}
        yield {**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]}
        yield {**base, 'choices': [], 'usage': {
            'prompt_tokens': 30, 'completion_tokens': len(pieces), 'total_tokens': 30 + len(
                pieces), 'prompt_tokens_details': {'cached_tokens': 12}}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server():
    double = OpenAiServerDouble('Here:\n```python\ndone("ok")\n```\nObservation: invented')
    yield double
    double.close()


MESSAGES = [{'role': 'system', 'content': 'You write Python.'},
            {'role': 'user', 'content': 'finish'}]


def test_streams_sse_reply_with_usage(server):
    backend = create_backend('openai', model='qwen', base_url=server.base_url,
                             api_key='secret', temperature=0.1)
    pieces: list[str] = []
    c = backend.complete(MESSAGES, stop=['\nObservation:'], max_tokens=50,
                         on_token=pieces.append)
    backend.close()
    assert isinstance(backend, OpenAiBackend)
    assert c.text == 'Here:\n```python\ndone("ok")\n```'
    assert ''.join(pieces).startswith(c.text)
    assert (c.prompt_tokens, c.cached_tokens) == (30, 12)
    assert c.completion_tokens == len(pieces)
    assert c.finish_reason == 'stop'
    req = server.requests[0]
    assert req['stream'] is True and req['model'] == 'qwen' and req['max_tokens'] == 50
    assert req['stop'] == ['\nObservation:'] and req['messages'] == MESSAGES
    assert server.headers[0]['Authorization'] == 'Bearer secret'


def test_model_not_found(server):
    backend = OpenAiBackend(model='missing', base_url=server.base_url)
    with pytest.raises(ModelNotFoundError, match='missing'):
        backend.complete(MESSAGES)


def test_context_overflow(server):
    backend = OpenAiBackend(model='qwen', base_url=server.base_url)
    with pytest.raises(ContextOverflowError, match='maximum context length'):
        backend.complete([{'role': 'user', 'content': 'x' * 20_000}])


def test_server_down():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    backend = OpenAiBackend(base_url=f'http://127.0.0.1:{port}/v1')
    with pytest.raises(LlmUnavailableError, match='no OpenAI-compatible server'):
        backend.complete(MESSAGES, timeout=5)


def test_the_server_disappearing_mid_episode_ends_it_as_an_infrastructure_error(tmp_path):
    from robot_doubles import WarehouseRobotDouble

    from codeact_robot.agent import AgentConfig, CodeActAgent, read_transcript
    from codeact_robot.api.robot_api import RobotApi
    from codeact_robot.world import load_world

    world = load_world('warehouse')
    double = OpenAiServerDouble('I drive first.\n```python\nprint(move(0.3).arrived)\n```')
    robot = WarehouseRobotDouble(world)

    def on_event(event) -> None:
        if event.phase == 'observed':  # the server goes away after the first turn
            double.close()

    backend = OpenAiBackend(model='qwen', base_url=double.base_url)
    agent = CodeActAgent(llm=backend, robot=robot, world=world,
                         config=AgentConfig(max_turns=4, n_examples=0,
                                            functions=RobotApi.LLM_FUNCTIONS),
                         runs_dir=tmp_path, on_event=on_event)
    with agent:
        result = agent.run('drive a little')
    assert not result.success and result.turns == 2  # it failed while asking for turn 2
    assert result.error == 'LlmUnavailableError' and 'no OpenAI-compatible server answers' in \
        result.failure_reason
    assert result.actions == ['move(0.3): arrived']  # what was done before is reported
    assert robot.stops, 'the robot must be stopped when the model server goes away'
    records = read_transcript(result.transcript_path)
    assert [r['event'] for r in records] == ['episode_start', 'turn', 'episode_end']
    assert records[1]['execution']['status'] == 'ok'
    assert records[-1]['error'] == 'LlmUnavailableError'
