"""Code extraction from model replies: every fence flavour, bare code, several blocks, prose."""

from __future__ import annotations

import pytest

from codeact_robot.agent.extraction import close_open_fence, extract_code

CASES = [
    ('python fence with prose', 'Sure.\n```python\nx = go_to("shelf B")\nprint(x)\n```\nDone.',
     'x = go_to("shelf B")\nprint(x)\n', 'fenced'),
    ('py tag', '```py\nturn(1.0)\n```', 'turn(1.0)\n', 'fenced'),
    ('Python3 tag, spaces', '```  Python3 \nsay("hi")\n```', 'say("hi")\n', 'fenced'),
    ('bare fence', '```\ndone("ok")\n```', 'done("ok")\n', 'fenced'),
    ('tilde fence', '~~~python\nstop()\n~~~', 'stop()\n', 'fenced'),
    ('four backticks', '````python\nprint("```")\n````', 'print("```")\n', 'fenced'),
    ('indented fence', '  ```python\n  wait(1)\n  ```', 'wait(1)\n', 'fenced'),
    ('unterminated (stop string)', '```python\nr = go_to("x")\nif r.arrived:\n    done("y")',
     'r = go_to("x")\nif r.arrived:\n    done("y")\n', 'fenced'),
    ('one-line fence', 'Run ```python done("x")``` now', 'done("x")\n', 'fenced'),
    ('bare code among prose', 'I will go now.\ngo_to("dock")\ndone("at dock")\nThat is all.',
     'go_to("dock")\ndone("at dock")\n', 'bare'),
    ('bare code only', 'r = go_to("shelf A")\nprint(r.status)',
     'r = go_to("shelf A")\nprint(r.status)\n', 'bare'),
    ('CRLF line ends', '```python\r\nprint(1)\r\n```', 'print(1)\n', 'fenced'),
]


@pytest.mark.parametrize(('name', 'reply', 'code', 'source'), CASES, ids=[c[0] for c in CASES])
def test_extracts(name, reply, code, source):
    found = extract_code(reply)
    assert (found.code, found.source) == (code, source)


def test_several_blocks_are_joined_in_order_and_output_blocks_ignored():
    reply = ('First:\n```python\na = 1\n```\nThen:\n```python\nprint(a)\n```\n'
             'Expected output:\n```output\n1\n```\n```json\n{"a": 1}\n```')
    found = extract_code(reply)
    assert found.code == 'a = 1\n\nprint(a)\n' and found.blocks == 2


def test_unknown_language_blocks_are_used_only_when_they_parse():
    assert extract_code('```robot\ngo_to("dock")\n```').code == 'go_to("dock")\n'
    assert not extract_code('```robot\ngo to the dock\n```')


@pytest.mark.parametrize('reply', ['', 'I cannot help with that.',
                                   'print the result when you are done.',
                                   '```\n\n```', '```output\nTrue\n```'])
def test_no_code(reply):
    found = extract_code(reply)
    assert not found and found.source == 'none'


def test_close_open_fence():
    assert close_open_fence('```python\nx = 1') == '```python\nx = 1\n```'
    assert close_open_fence('```python\nx = 1\n```') == '```python\nx = 1\n```'
    assert close_open_fence('no code') == 'no code'
