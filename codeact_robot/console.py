"""Print agent turns live in a terminal: the streamed reply, code, output and robot state."""

from __future__ import annotations

import sys
import textwrap
from typing import Any, TextIO

_PHASE_TITLES = {'generating': 'model is writing code', 'executing': 'running',
                 'observed': 'observation', 'finished': 'finished'}


class EventPrinter:
    """Callable that formats AgentEvents (turn, phase, code, observation, pose) as they come."""

    def __init__(self, out: TextIO | None = None, color: bool | None = None,
                 max_observation_lines: int = 40) -> None:
        self._out = out or sys.stdout
        self._color = self._out.isatty() if color is None else color
        self._max_lines = max_observation_lines
        self._streaming = False  # a streamed reply is on the current line
        self._prefilling = False  # a long prompt is being processed

    def token(self, piece: str) -> None:
        """Print a streamed piece of the model's reply as it arrives (dimmed, indented)."""
        if not self._streaming:
            self._out.write('  ')
            self._streaming = True
        self._out.write(self._paint(piece.replace('\n', '\n  '), '2'))
        self._out.flush()

    def prefill(self, progress: Any) -> None:
        """Show how far a long prompt's processing got (llm.base.PrefillProgress).

        The first report says how long it will take; a terminal then shows a progress line
        updated in place, and the last report how long it took.
        """
        if self._streaming:
            self._out.write('\n')
            self._streaming = False
        done, total = progress.done, progress.total
        saved = ' (saved for the next run)' if progress.saved else ''
        if not self._prefilling:
            self._prefilling = True
            left = progress.seconds_left
            about = f', about {_duration(left)} at {progress.rate:.0f} tokens/s' if left else ''
            print(self._paint(f'  processing the {total:,}-token prompt on the CPU{about}'
                              f'{saved} …', '2'), file=self._out, flush=True)
        if done >= total:
            self._prefilling = False
            end = '\r' if self._out.isatty() else ''
            print(self._paint(f'{end}  prompt processed: {total:,} tokens in '
                              f'{_duration(progress.seconds)} ({progress.rate:.0f} tokens/s)'
                              '          ', '2'), file=self._out, flush=True)
        elif self._out.isatty():
            bar = _bar(done / total)
            left = progress.seconds_left or 0.0
            self._out.write(self._paint(f'\r  {bar} {done:,}/{total:,} tokens, '
                                        f'~{_duration(left)} left   ', '2'))
            self._out.flush()

    def _paint(self, text: str, code: str) -> str:
        return f'\033[{code}m{text}\033[0m' if self._color else text

    def __call__(self, event: Any) -> None:
        """Print one event."""
        phase = getattr(event, 'phase', '')
        turn = getattr(event, 'turn', 0)
        lines: list[str] = []
        if self._streaming:  # the reply ended: the next event starts on a line of its own
            self._out.write('\n')
            self._streaming = False
        if phase == 'generating':
            lines.append(self._paint(f'── turn {turn}: {_PHASE_TITLES[phase]} …', '1;34'))
        elif phase == 'executing' and getattr(event, 'code', ''):
            lines.append(self._paint(f'── turn {turn}: code', '1;34'))
            lines.append(textwrap.indent(event.code.rstrip(), '  │ '))
        elif phase in ('observed', 'finished'):
            observation = (getattr(event, 'observation', '') or '').rstrip()
            shown = observation.splitlines()
            if len(shown) > self._max_lines:
                more = len(shown) - self._max_lines
                shown = shown[:self._max_lines] + [f'… ({more} more lines)']
            title = _PHASE_TITLES[phase]
            lines.append(self._paint(f'── turn {turn}: {title}', '1;33' if phase == 'observed'
                                     else '1;32'))
            if shown:
                lines.append(textwrap.indent('\n'.join(shown), '  │ '))
            pose = getattr(event, 'pose', None)
            if pose is not None:
                lines.append(self._paint(
                    f'  robot at x={pose.x:.2f} y={pose.y:.2f} '
                    f'theta={pose.theta:.2f}', '2'))
        if lines:
            print('\n'.join(lines), file=self._out, flush=True)


def _duration(seconds: float) -> str:
    """Return '45 s' or '2 min 5 s'."""
    seconds = max(0, round(seconds))
    return f'{seconds} s' if seconds < 60 else f'{seconds // 60} min {seconds % 60} s'


def _bar(fraction: float, width: int = 24) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return '[' + '#' * filled + '.' * (width - filled) + ']'
