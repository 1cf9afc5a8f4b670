"""The terminal printer: a streamed reply as it comes, the next event on a line of its own."""

import io
from types import SimpleNamespace

from codeact_robot.console import EventPrinter


def test_streamed_reply_then_the_code_on_lines_of_their_own():
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    printer(SimpleNamespace(phase='generating', turn=1))
    for piece in ('I will ', 'drive.\n', '```python\n', 'move(1.0)\n', '```'):
        printer.token(piece)
    assert out.getvalue().endswith('  I will drive.\n  ```python\n  move(1.0)\n  ```')
    printer(SimpleNamespace(phase='executing', turn=1, code='move(1.0)\n'))
    lines = out.getvalue().splitlines()
    assert lines[0] == '── turn 1: model is writing code …'
    assert lines[1:5] == ['  I will drive.', '  ```python', '  move(1.0)', '  ```']
    assert lines[5] == '── turn 1: code' and lines[6] == '  │ move(1.0)'
