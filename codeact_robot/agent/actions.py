"""What the robot actually did in an episode, in words, from the trusted side's call records.

The model's ``done(summary)`` is its claim; a user also wants the robot's own account ("arrived
at the packing station (found aisle 2 blocked and went round)"), which the skills return in
their results. Both agent modes record one line per robot action with ``action_line``; the CLI
prints them under the model's summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Robot API functions that change the world (motion, gripper); queries are not listed.
ACTION_FUNCTIONS = frozenset({
    'go_to', 'move_to', 'move', 'turn', 'stop', 'fetch', 'grasp', 'release',
})

ARG_CHARS = 40
LINE_CHARS = 200


def action_line(name: str, args: Sequence[Any] | Mapping[str, Any], kwargs: Mapping[str, Any],
                ok: bool, message: str = '', error_type: str | None = None,
                error_message: str | None = None) -> str | None:
    """Return one line for a robot action (None for calls that only ask something)."""
    if name not in ACTION_FUNCTIONS:
        return None
    if isinstance(args, Mapping):  # JSON tools pass their arguments by name
        args, kwargs = [], {**args, **kwargs}
    shown = [_short(a) for a in args] + [f'{k}={_short(v)}' for k, v in kwargs.items()]
    call = f"{name}({', '.join(shown)})"
    if not ok:
        text = f'{call} failed: {error_type or "error"}: {error_message or ""}'.rstrip(': ')
    else:
        text = f'{call}: {message}' if message else call
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS - 3] + '...'


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= ARG_CHARS else text[:ARG_CHARS - 3] + '...'
