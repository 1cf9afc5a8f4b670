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


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _progress(done, total, seconds, saved=False):
    from codeact_robot.llm import PrefillProgress
    return PrefillProgress(done, total, seconds, saved)


def test_a_long_prompt_says_how_long_then_how_far_then_how_long_it_took():
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    printer(SimpleNamespace(phase='generating', turn=1))
    printer.prefill(_progress(128, 2048, 6.4, saved=True))  # 20 tokens/s so far
    printer.prefill(_progress(1024, 2048, 51.2, saved=True))
    printer.prefill(_progress(2048, 2048, 102.4, saved=True))
    lines = out.getvalue().splitlines()
    assert lines[1] == ('  processing the 2,048-token prompt on the CPU, about 1 min 36 s at '
                        '20 tokens/s (saved for the next run) …')
    # Not a terminal: no progress line drawn in place, only the end.
    assert lines[2].startswith('  prompt processed: 2,048 tokens in 1 min 42 s (20 tokens/s)')
    assert len(lines) == 3
    printer.token('I will')  # the reply then streams as usual
    assert out.getvalue().endswith('\n  I will')


def test_a_terminal_shows_the_progress_in_place():
    out = _Tty()
    printer = EventPrinter(out, color=False)
    printer.prefill(_progress(512, 1024, 10.0))
    printer.prefill(_progress(768, 1024, 15.0))
    text = out.getvalue()
    assert '\r  [############............] 512/1,024 tokens, ~10 s left' in text
    assert '\r  [##################......] 768/1,024 tokens, ~5 s left' in text
