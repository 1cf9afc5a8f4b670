"""The CodeAct loop: the model writes code, the watchdog executor runs it, the result goes back.

One ``CodeActAgent.run(task)`` is one episode: bounded in turns and wall-clock time, cancellable
from any thread (cancel stops the code and the robot), logged to a JSONL transcript as it goes.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from codeact_robot.agent.extraction import close_open_fence, extract_code
from codeact_robot.agent.prompt import build_system_prompt, load_prompt_file
from codeact_robot.agent.transcript import Transcript
from codeact_robot.api.errors import RobotApiError
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Place, Pose
from codeact_robot.executor import ExecutorError
from codeact_robot.llm.base import (
    Completion,
    GenerationCancelledError,
    LlmBackend,
    LlmError,
    Message,
    estimate_tokens,
)

# Stop before the model writes its own "Observation:" and right after its code block closes
# (a closing fence followed by a blank line), so it neither hallucinates results nor rambles.
STOP_SEQUENCES: tuple[str, ...] = ('\nObservation:', '\n```\n\n', '\nObservation\n')
PHASES = ('generating', 'executing', 'observed', 'finished')


@dataclass
class AgentConfig:
    """Limits and knobs of one episode (config/agent.yaml holds the same names)."""

    max_turns: int = 8
    max_episode_seconds: float = 600.0
    turn_timeout: float = 120.0          # execution wall clock of one turn's code
    generation_timeout: float = 120.0    # model wall clock of one turn
    max_new_tokens: int = 384
    observation_chars: int = 1200        # longer observations keep their head and tail
    context_tokens: int | None = None    # None: the backend's context_size, if it has one
    prompt_file: str = 'codeact.yaml'
    n_examples: int = 3
    stop: tuple[str, ...] = STOP_SEQUENCES
    # The robot functions the model sees and may call (a subset makes the prompt shorter).
    functions: tuple[str, ...] = RobotApi.LLM_FUNCTIONS

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError('max_turns must be at least 1')
        for name in ('max_episode_seconds', 'turn_timeout', 'generation_timeout'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be positive')
        if self.max_new_tokens < 16 or self.observation_chars < 200:
            raise ValueError('max_new_tokens must be >= 16 and observation_chars >= 200')
        self.stop = tuple(self.stop)
        self.functions = tuple(self.functions)
        unknown = set(self.functions) - set(RobotApi.LLM_FUNCTIONS)
        if unknown:
            raise ValueError(f'not robot API functions: {sorted(unknown)}')
        if self.context_tokens is not None and self.context_tokens <= 0:
            self.context_tokens = None  # 0 in a parameter file means "the backend's size"

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> AgentConfig:
        """Build from node parameters, taking the keys named like fields and ignoring others."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


@dataclass(frozen=True)
class AgentEvent:
    """Progress of an episode, for feedback (the ExecuteCommand action's feedback fields)."""

    turn: int
    phase: str  # generating | executing | observed | finished
    code: str = ''
    observation: str = ''
    pose: Pose | None = None


@dataclass
class EpisodeResult:
    """How an episode ended.

    ``failure_reason`` is empty on success; otherwise the model's fail(reason), a turn or time
    limit, 'cancelled', or an infrastructure error (then ``error`` names its type).
    """

    success: bool
    summary: str
    turns: int
    failure_reason: str
    transcript_path: Path | None
    seconds: float = 0.0
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        out = asdict(self)
        out['transcript_path'] = str(self.transcript_path) if self.transcript_path else None
        return out


class CodeExecutor(Protocol):
    """What the loop needs of the watchdog executor (codeact_robot.executor.Executor)."""

    def run(self, code: str, timeout: float | None = None) -> Any:
        """Run code; return a result with status, to_observation() and to_dict()."""

    def reset(self) -> None:
        """Forget the model's variables (new episode)."""

    def cancel(self, reason: str = 'cancelled') -> None:
        """Stop the running code now, from any thread."""

    def close(self) -> None:
        """Stop the sandbox."""


class EpisodeCancelledError(Exception):
    """Raised inside the loop when cancel() was called."""


class CodeActAgent:
    """Run plain-language tasks as CodeAct episodes on a robot.

    Example::

        agent = CodeActAgent(llm=create_backend('auto'), robot=robot_api, world=load_world(),
                             config=AgentConfig(max_turns=8), runs_dir=Path('runs'))
        result = agent.run('bring the red box to the packing station')
    """

    def __init__(self, llm: LlmBackend, robot: RobotApi, world: Any | None = None,
                 config: AgentConfig | None = None, runs_dir: Path | str = Path('runs'),
                 on_event: Callable[[AgentEvent], None] | None = None,
                 executor: CodeExecutor | None = None,
                 limits: Mapping[str, Any] | Sequence[str] | None = None,
                 places: Sequence[Place] | Mapping[str, Place] | None = None,
                 inventory: Mapping[str, str] | None = None,
                 on_token: Callable[[str], None] | None = None) -> None:
        """Create the agent.

        Args:
            llm: The model backend.
            robot: The trusted robot API (the executor exposes its LLM_FUNCTIONS).
            world: A codeact_robot.world.World for places, aisles, keep-out zones and box
                locations; None to ask robot.locations().
            config: Episode limits.
            runs_dir: Where transcripts go.
            on_event: Called with an AgentEvent at every phase of every turn.
            executor: The code executor; None creates codeact_robot.executor.Executor.
            limits: Safety limits for the prompt (mapping or lines); None takes
                codeact_robot.safety's defaults.
            places: Overrides the world's places.
            inventory: Overrides the world's box locations (box name -> place name).
            on_token: Called with each streamed piece of the model's reply.
        """
        self.llm = llm
        self.robot = robot
        self.world = world
        self.config = config or AgentConfig()
        self.runs_dir = Path(runs_dir)
        self.on_event = on_event
        self.on_token = on_token
        self._templates = load_prompt_file(self.config.prompt_file)
        self._cancel = threading.Event()
        self._busy = threading.Lock()
        self._outcome: tuple[str, str] | None = None
        self._outcome_lock = threading.Lock()
        self.system_prompt = self._build_prompt(places, inventory, limits)
        self._executor = executor if executor is not None else self._make_executor()

    # -- setup -----------------------------------------------------------------------------

    def _make_executor(self) -> CodeExecutor:
        from codeact_robot.executor import ExecutionLimits, Executor
        limits = ExecutionLimits(call_timeout_s=self.config.turn_timeout,
                                 episode_timeout_s=self.config.max_episode_seconds)
        table = {name: self._guarded(getattr(self.robot, name))
                 for name in self.config.functions}
        table.update(done=self._done, fail=self._fail)
        return Executor(api=self.robot, functions=table, limits=limits,
                        on_stop=self._stop_robot)

    def _guarded(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a robot function so that it refuses to run once the episode is over.

        The executor runs the model's code to its end or its timeout; this makes every robot
        call after a cancel, done() or fail() raise instead of moving the robot again.
        """
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._cancel.is_set():
                raise RobotApiError('the episode was cancelled: stop now')
            with self._outcome_lock:
                ended = self._outcome is not None
            if ended:
                raise RobotApiError('the episode already ended with done() or fail(); '
                                    'no more robot calls')
            return func(*args, **kwargs)
        return call

    def _build_prompt(self, places: Sequence[Place] | Mapping[str, Place] | None,
                      inventory: Mapping[str, str] | None,
                      limits: Mapping[str, Any] | Sequence[str] | None) -> str:
        world = self.world
        if places is None:
            places = world.places if world is not None else self.robot.locations()
        aisles = [a.name for a in world.aisles] if world is not None else []
        if inventory is None and world is not None:
            inventory = {b.name: b.location for b in world.boxes}
        lines = limit_lines(limits)
        if world is not None:
            for zone in world.keep_out:
                r = zone.rect
                lines.append(f'keep-out zone "{zone.name}": x {r.xmin:g}..{r.xmax:g}, '
                             f'y {r.ymin:g}..{r.ymax:g} (never enter)')
        return build_system_prompt(places, limits=lines or None, aisles=aisles,
                                   inventory=inventory, prompt_file=self.config.prompt_file,
                                   n_examples=self.config.n_examples,
                                   functions=self.config.functions)

    # -- the model's done()/fail() (called by the executor on the trusted side) ------------

    def _done(self, summary: str = '') -> str:
        """Record the model's done(summary)."""
        with self._outcome_lock:
            if self._outcome is None:
                self._outcome = ('done', str(summary))
        return 'episode finished'

    def _fail(self, reason: str = '') -> str:
        """Record the model's fail(reason)."""
        with self._outcome_lock:
            if self._outcome is None:
                self._outcome = ('fail', str(reason))
        return 'episode finished'

    def _stop_robot(self, reason: str = 'agent stop') -> None:
        self.robot.emergency_stop(reason)

    # -- public ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the episode now: the model, the running code and the robot (thread-safe)."""
        self._cancel.set()
        self._executor.cancel('episode cancelled')  # kills the running code, stops the robot
        self.robot.emergency_stop('episode cancelled')  # also when no code was running

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called for the current episode."""
        return self._cancel.is_set()

    def close(self) -> None:
        """Stop the executor's sandbox."""
        self._executor.close()

    def __enter__(self) -> CodeActAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, task: str) -> EpisodeResult:
        """Run one episode for a plain-language task and return how it ended.

        Model mistakes (errors, no code, blocked motions) go back to the model as observations;
        LLM and executor infrastructure errors stop the robot and end the episode with
        ``error`` set; anything else stops the robot and propagates.
        """
        if not self._busy.acquire(blocking=False):
            raise RuntimeError('an episode is already running on this agent')
        try:
            self._cancel.clear()
            with self._outcome_lock:
                self._outcome = None
            return self._run(task)
        finally:
            self._busy.release()

    # -- the loop --------------------------------------------------------------------------

    def _run(self, task: str) -> EpisodeResult:
        cfg = self.config
        start = time.monotonic()
        transcript = Transcript(self.runs_dir, task)
        totals = {'prompt': 0, 'completion': 0}
        transcript.write('episode_start', task=task, backend=self.llm.describe(),
                         config=asdict(cfg), system_prompt=self.system_prompt)
        messages: list[Message] = [
            {'role': 'system', 'content': self.system_prompt},
            {'role': 'user', 'content': self._templates.task.format(task=task).strip()},
        ]
        turn = 0
        result: EpisodeResult | None = None
        try:
            self.llm.reset()
            self._executor.reset()
            while result is None:
                if turn >= cfg.max_turns:
                    result = self._finish(False, '', turn, f'turn limit ({cfg.max_turns}) '
                                          'reached without done() or fail()', transcript)
                    break
                remaining = cfg.max_episode_seconds - (time.monotonic() - start)
                if remaining <= 1.0:
                    result = self._finish(False, '', turn, 'episode time limit '
                                          f'({cfg.max_episode_seconds:g} s) reached', transcript)
                    break
                turn += 1
                result = self._turn(turn, messages, remaining, transcript, totals)
        except EpisodeCancelledError:
            result = self._finish(False, '', turn, 'cancelled', transcript)
        except LlmError as e:
            self._stop_robot(f'agent error: {e}')
            result = self._finish(False, '', turn, f'LLM error: {e}', transcript,
                                  error=type(e).__name__)
        except ExecutorError as e:
            self._stop_robot(f'executor error: {e}')
            result = self._finish(False, '', turn, f'executor error: {e}', transcript,
                                  error=type(e).__name__)
        except BaseException as e:
            # Crash or interrupt: the robot must not keep moving; the error still propagates.
            self._stop_robot(f'agent crashed: {type(e).__name__}')
            transcript.write('episode_error', turn=turn, error=type(e).__name__, message=str(e))
            transcript.close()
            raise
        result.seconds = time.monotonic() - start
        result.prompt_tokens = totals['prompt']
        result.completion_tokens = totals['completion']
        transcript.write('episode_end', **result.to_dict())
        transcript.close()
        self._emit(AgentEvent(turn, 'finished', observation=result.summary
                              or result.failure_reason, pose=self._pose()))
        return result

    def _turn(self, turn: int, messages: list[Message], remaining: float,
              transcript: Transcript, totals: dict[str, int]) -> EpisodeResult | None:
        cfg = self.config
        self._check_cancel()
        self._fit_context(messages)
        self._emit(AgentEvent(turn, 'generating', pose=self._pose()))
        sent = len(messages)
        try:
            completion = self.llm.complete(
                messages, stop=cfg.stop, max_tokens=cfg.max_new_tokens,
                timeout=min(cfg.generation_timeout, remaining), on_token=self.on_token,
                cancel=self._cancel)
        except GenerationCancelledError as e:
            raise EpisodeCancelledError() from e
        totals['prompt'] += completion.prompt_tokens or 0
        totals['completion'] += completion.completion_tokens or 0
        reply = close_open_fence(completion.text.strip())
        messages.append({'role': 'assistant', 'content': reply})
        extracted = extract_code(completion.text)
        record: dict[str, Any] = {
            'turn': turn, 'prompt': messages[sent - 1]['content'],
            'completion': completion.text, 'llm': _completion_record(completion),
            'code': extracted.code, 'code_source': extracted.source,
            'code_blocks': extracted.blocks,
        }
        self._check_cancel()
        if not extracted:
            observation = self._templates.no_code.strip()
            messages.append({'role': 'user', 'content': observation})
            transcript.write('turn', **record, observation=observation, execution=None)
            self._emit(AgentEvent(turn, 'observed', observation=observation, pose=self._pose()))
            return None
        self._emit(AgentEvent(turn, 'executing', code=extracted.code, pose=self._pose()))
        exec_start = time.monotonic()
        exec_result = self._executor.run(
            extracted.code, timeout=min(cfg.turn_timeout, max(1.0, remaining -
                                                              completion.seconds)))
        exec_seconds = time.monotonic() - exec_start
        pose = self._pose()
        observation = self._templates.observation.format(
            result=clip_middle(exec_result.to_observation(), cfg.observation_chars),
            state=self._robot_state(pose)).strip()
        transcript.write('turn', **record, observation=observation,
                         execution=exec_result.to_dict(), execution_seconds=exec_seconds)
        self._emit(AgentEvent(turn, 'observed', code=extracted.code, observation=observation,
                              pose=pose))
        self._check_cancel()
        with self._outcome_lock:
            outcome = self._outcome
        if outcome is not None:
            kind, text = outcome
            if kind == 'done':
                return self._finish(True, text, turn, '', transcript)
            return self._finish(False, text, turn, text or 'the model called fail()',
                                transcript)
        messages.append({'role': 'user', 'content': observation})
        return None

    def _finish(self, success: bool, summary: str, turns: int, failure_reason: str,
                transcript: Transcript, error: str | None = None) -> EpisodeResult:
        return EpisodeResult(success=success, summary=summary, turns=turns,
                             failure_reason=failure_reason, transcript_path=transcript.path,
                             error=error)

    # -- helpers ---------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise EpisodeCancelledError()

    def _emit(self, event: AgentEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _pose(self) -> Pose | None:
        try:
            return self.robot.get_pose()
        except RobotApiError:
            return None  # robot not ready: the event still goes out, without a pose

    def _robot_state(self, pose: Pose | None) -> str:
        where = (f'pose x={pose.x:.2f} y={pose.y:.2f} theta={pose.theta:.2f}'
                 if pose is not None else 'pose unknown')
        try:
            held = 'yes' if self.robot.holding() else 'no'
        except RobotApiError as e:
            held = f'unknown ({type(e).__name__})'
        return f'{where}, holding: {held}'

    def _fit_context(self, messages: list[Message]) -> None:
        """Shorten old observations when the conversation nears the context size.

        Shortened messages stay shortened, so the prefix the KV cache holds stays stable.
        """
        budget = self.config.context_tokens or getattr(self.llm, 'context_size', None)
        if not budget:
            return
        limit = int(budget) - self.config.max_new_tokens - 64
        # Keep the system prompt, the task and the latest exchange intact.
        for i in range(2, max(2, len(messages) - 2)):
            if estimate_tokens(messages) <= limit:
                return
            m = messages[i]
            if len(m['content']) > 240:
                m['content'] = m['content'][:200].rstrip() + ' [...shortened]'


def clip_middle(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` characters, keeping its head and its tail (errors)."""
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 40
    return f'{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}'


def _completion_record(c: Completion) -> dict[str, Any]:
    out = c.to_dict()
    out.pop('text', None)
    return out


def limit_lines(limits: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """Render safety limits for the prompt; None takes codeact_robot.safety's defaults."""
    if limits is not None:
        if isinstance(limits, Mapping):
            return [f'{k.replace("_", " ")}: {v}' for k, v in limits.items()]
        return list(limits)
    from codeact_robot.safety.limits import LIMIT_SPECS, SafetyLimits
    defaults = SafetyLimits()
    lines = []
    for name in ('max_linear_speed', 'max_angular_speed', 'min_obstacle_distance',
                 'max_move_distance', 'max_turn_angle', 'max_wait'):
        unit = re.search(r'\(([^()]*)\)\.?$', LIMIT_SPECS[name].description)
        suffix = f' {unit.group(1)}' if unit else ''
        lines.append(f'{name.replace("_", " ")}: {getattr(defaults, name):.2f}{suffix}')
    lines.append('the robot stops itself for obstacles and refuses motions outside the map')
    return lines


_limit_lines = limit_lines  # the earlier private name (codeact_robot.eval imports it)
