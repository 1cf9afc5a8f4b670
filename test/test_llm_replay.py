"""Replay backend and the backend factory."""

from __future__ import annotations

import json
import threading

import pytest

from codeact_robot.llm import (
    BACKENDS,
    GenerationCancelledError,
    ReplayBackend,
    ReplayExhaustedError,
    create_backend,
)
from codeact_robot.llm.replay import load_script

MSG = [{'role': 'user', 'content': 'go'}]


def test_replays_in_order_records_calls_and_rewinds():
    backend = create_backend('replay', completions=['one\nObservation: x', 'two'])
    assert backend.complete(MSG, stop=['\nObservation:']).text == 'one'
    assert backend.complete(MSG).text == 'two'
    with pytest.raises(ReplayExhaustedError, match='2 completions'):
        backend.complete(MSG)
    assert len(backend.calls) == 3 and backend.calls[0] == MSG
    backend.reset()
    assert backend.complete(MSG).text.startswith('one')


def test_loads_yaml_and_json_scripts(tmp_path):
    (tmp_path / 's.yaml').write_text('completions:\n  - |\n    print(1)\n  - done("x")\n')
    (tmp_path / 's.json').write_text(json.dumps(['a', 'b']))
    assert load_script(tmp_path / 's.yaml') == ['print(1)\n', 'done("x")']
    assert ReplayBackend(script=tmp_path / 's.json').completions == ['a', 'b']
    (tmp_path / 'bad.yaml').write_text('completions: 3\n')
    with pytest.raises(ValueError, match='list of completion strings'):
        load_script(tmp_path / 'bad.yaml')


def test_cancel_before_generation():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelledError):
        ReplayBackend(['x']).complete(MSG, cancel=cancel)


def test_factory_rejects_unknown_names_and_settings():
    assert BACKENDS[0] == 'auto'
    with pytest.raises(ValueError, match='unknown LLM backend'):
        create_backend('gpt5')
    with pytest.raises(TypeError, match='tempreature'):
        create_backend('replay', completions=['x'], tempreature=0.5)
    # Settings meant for other backends are ignored, so one config serves every backend.
    backend = create_backend('replay', completions=['x'], host='http://h:1', context_size=2048)
    assert backend.describe() == 'replay:script'


def test_a_reply_streams_in_pieces_that_make_up_the_reply():
    text = 'I will look.\n```python\nprint(get_pose())\n```\n'
    backend = ReplayBackend([text])
    pieces: list[str] = []
    completion = backend.complete([{'role': 'user', 'content': 'where?'}], on_token=pieces.append)
    assert len(pieces) > 1 and ''.join(pieces) == completion.text == text
