"""Limits and structured results of the watchdog executor (plain data, JSON-able)."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: Longest text of one field (message, traceback, summary) kept from the child.
MAX_FIELD_CHARS = 4000


class ExecStatus(str, enum.Enum):
    """How one ``Executor.run`` ended."""

    OK = 'ok'                # the code ran to its end
    ERROR = 'error'          # the code raised an exception (incl. robot API errors)
    REJECTED = 'rejected'    # static checks refused the code; nothing ran
    TIMEOUT = 'timeout'      # the wall-clock limit of the call or episode ran out; child killed
    KILLED = 'killed'        # an OS limit (CPU time, memory, file size) killed the child
    VIOLATION = 'violation'  # the robot's safety layer stopped a motion and the code did not
    #                          handle it, or the child broke the protocol; child stopped
    CRASHED = 'crashed'      # the child died unexpectedly or the host API failed internally


@dataclass(frozen=True)
class ExecutionLimits:
    """Per-call, per-episode and OS limits of the sandboxed child.

    Defaults suit one CodeAct step of a warehouse robot; all are enforced outside the model's
    Python (by the parent or the kernel).
    """

    call_timeout_s: float = 60.0       # wall clock per run() call
    episode_timeout_s: float = 600.0   # wall clock summed over the calls of one episode
    cpu_time_s: int = 120              # RLIMIT_CPU of one child (SIGXCPU, then SIGKILL)
    memory_mb: int = 1024              # RLIMIT_AS of the child
    max_output_chars: int = 20_000     # stdout + stderr kept per call; the rest is dropped
    max_file_mb: int = 8               # RLIMIT_FSIZE: largest file the child may write
    max_open_files: int = 32           # RLIMIT_NOFILE
    max_code_chars: int = 64_000       # longer code is rejected before parsing
    max_api_calls: int = 10_000        # per call; more is a violation
    max_recorded_calls: int = 200      # per call kept in the result; the rest are counted
    start_timeout_s: float = 15.0      # a new child must report ready within this
    warm_pool: bool = True             # keep one started child in reserve

    def __post_init__(self) -> None:
        for name in ('call_timeout_s', 'episode_timeout_s', 'cpu_time_s', 'memory_mb',
                     'max_output_chars', 'max_file_mb', 'max_open_files', 'max_code_chars',
                     'max_api_calls', 'max_recorded_calls', 'start_timeout_s'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not value > 0 or value != value or value == float('inf') and \
                    name not in ('episode_timeout_s', 'call_timeout_s'):
                raise ValueError(f'ExecutionLimits.{name} must be a positive number, '
                                 f'got {value!r}')
        if self.max_open_files < 16:
            raise ValueError('ExecutionLimits.max_open_files must be at least 16 (the child '
                             'needs a few descriptors of its own)')


@dataclass(frozen=True)
class ApiCall:
    """One robot API call the model's code made, as seen by the trusted side."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    ok: bool
    result_summary: str = ''
    message: str = ''  # the result's own words (MoveResult.message, fetch's report)
    error_type: str | None = None
    error_message: str | None = None
    duration: float = 0.0


@dataclass
class ExecutionResult:
    """What happened during one ``Executor.run`` call."""

    status: ExecStatus
    stdout: str = ''
    stderr: str = ''
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str = ''
    duration: float = 0.0
    api_calls: list[ApiCall] = field(default_factory=list)
    robot_stopped: bool = False
    output_truncated: bool = False
    violations: list[str] = field(default_factory=list)
    state_reset: bool = False  # the child was replaced: the model's variables are gone
    unrecorded_calls: int = 0  # API calls made beyond ExecutionLimits.max_recorded_calls

    @property
    def ok(self) -> bool:
        """True when the code ran to its end."""
        return self.status == ExecStatus.OK

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able plain data."""
        data = asdict(self)
        data['status'] = self.status.value
        return data

    def to_observation(self, max_calls: int = 20) -> str:
        """Return what the model reads after its code ran: output, error, blocks, API calls."""
        parts: list[str] = []
        if self.violations:
            parts.append('Blocked:\n' + '\n'.join(f'- {v}' for v in self.violations))
        if self.stdout:
            parts.append('Output:\n' + self.stdout.rstrip('\n'))
        if self.stderr:
            parts.append('Stderr:\n' + self.stderr.rstrip('\n'))
        if self.output_truncated:
            parts.append('[output truncated: only the first part is shown]')
        if self.status == ExecStatus.REJECTED:
            parts.append('The code was not run; change it and try again.')
        elif self.status == ExecStatus.ERROR:
            parts.append(self._error_text())
        elif self.status != ExecStatus.OK:
            line = f'Execution {self.status.value}'
            if self.exc_type:
                line += f': {self.exc_type}: {self.exc_message}'
            parts.append(line)
            if self.traceback:
                parts.append(self.traceback.rstrip('\n'))
        if self.robot_stopped:
            parts.append('The robot was stopped (motion canceled, zero velocity).')
        if self.state_reset:
            parts.append('The sandbox was restarted: variables from earlier steps are gone.')
        if self.api_calls:
            shown = self.exc_message if self.status == ExecStatus.ERROR else None
            lines = [_call_line(c, shown) for c in self.api_calls[:max_calls]]
            more = len(self.api_calls) - len(lines) + self.unrecorded_calls
            if more > 0:
                lines.append(f'... {more} more calls')
            parts.append('API calls:\n' + '\n'.join(lines))
        if not parts:
            parts.append('(no output)')
        return '\n'.join(parts)


    def _error_text(self) -> str:
        """Return the error in two short lines: where in the model's code, then type and message.

        The full traceback stays in ``traceback`` (and the transcript); a small model reads
        the line it wrote and the message better than a stack of frames.
        """
        error = f'{self.exc_type}: {self.exc_message}'
        lines = self.traceback.splitlines()
        where = ''
        for i, line in enumerate(lines):
            match = _MODEL_FRAME.match(line)
            if match:
                source = lines[i + 1].strip() if i + 1 < len(lines) else ''
                where = f'Error in line {match.group(1)}' + (f': {source}' if source else '')
        return f'{where}\n{error}' if where else (error if self.exc_type else
                                                 self.traceback.rstrip('\n'))


_MODEL_FRAME = re.compile(r'\s*File "<model>", line (\d+)')


def _call_line(call: ApiCall, shown_error: str | None = None) -> str:
    args = [_short(a) for a in call.args] + [f'{k}={_short(v)}' for k, v in call.kwargs.items()]
    head = f'- {call.name}({", ".join(args)})'
    if call.ok:
        return f'{head} -> {call.result_summary}'
    if shown_error is not None and call.error_message == shown_error:
        return f'{head} raised {call.error_type} (the error above)'
    return f'{head} raised {call.error_type}: {call.error_message}'


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)  # host-side plain data only (decoded JSON), never a child object
    return text if len(text) <= limit else text[:limit - 3] + '...'


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """Cut text to at most limit characters, saying so."""
    if len(text) <= limit:
        return text
    return text[:limit] + f'... [{len(text) - limit} more characters]'
