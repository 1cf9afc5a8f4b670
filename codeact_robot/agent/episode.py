"""One episode of an agent: limits, events, result, and the turn loop every action format shares.

The loop (turn and time limits, cancellation, stopping the robot on every error, the
transcript, token totals) is written once here; an agent mode only says what one turn is:
CodeAct runs a code block in the watchdog executor (codeact_robot.agent.loop), the evaluation's
baseline runs one JSON tool call (codeact_robot.agent.json_agent).
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from codeact_robot.agent.prompt import example_messages
from codeact_robot.agent.transcript import Transcript
from codeact_robot.api.composite import place_near
from codeact_robot.api.errors import RobotApiError
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Place, Pose
from codeact_robot.executor import ExecutorError
from codeact_robot.llm.base import (
    Completion,
    GenerationCancelledError,
    GenerationTimeoutError,
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
    turn_timeout: float = 300.0          # execution wall clock of one turn's code (two fetches)
    generation_timeout: float = 120.0    # model wall clock of one turn
    max_new_tokens: int = 384
    observation_chars: int = 1200        # longer observations keep their head and tail
    context_tokens: int | None = None    # None: the backend's context_size, if it has one
    prompt_file: str = 'codeact.yaml'
    n_examples: int = 4
    stop: tuple[str, ...] = STOP_SEQUENCES
    # The robot functions the prompt shows (fewer make a shorter prompt a small model follows
    # better) ...
    functions: tuple[str, ...] = RobotApi.PROMPT_FUNCTIONS
    # ... and those the sandbox (or the JSON tools) answer: also the rest of the contract, which
    # a model may call from habit (get_pose(), holding()). The shown ones are always callable.
    callable_functions: tuple[str, ...] = RobotApi.LLM_FUNCTIONS

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
        self.callable_functions = tuple(dict.fromkeys((*self.functions,
                                                       *self.callable_functions)))
        unknown = set(self.callable_functions) - set(RobotApi.LLM_FUNCTIONS)
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
    #: What the robot did, in its own words: one line per motion or gripper call.
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        out = asdict(self)
        out['transcript_path'] = str(self.transcript_path) if self.transcript_path else None
        return out


class EpisodeCancelledError(Exception):
    """Raised inside the loop when cancel() was called."""


class EpisodeTimeLimitError(Exception):
    """Raised inside the loop when the episode's time ran out during a model reply."""


@dataclass
class Episode:
    """The state of the running episode that every turn reads and extends."""

    messages: list[Message]
    transcript: Transcript
    start: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Index of the task message: before it, the system prompt and the worked examples.
    first: int = 1
    #: One line per robot action, in the robot's words (``agent.actions.action_line``).
    actions: list[str] = field(default_factory=list)


class EpisodeAgent(ABC):
    """Run plain-language tasks as bounded, cancellable, logged episodes of model turns.

    Subclasses give the system prompt, the message that opens an episode and ``_turn``: one
    model reply and its action. Everything else (limits, cancel, errors, robot stops, the
    transcript, token totals, progress events) is shared, so the action formats compare fairly.
    """

    #: Written into the transcript's episode_start record.
    mode = ''
    #: The mode's prompt texts: ``task`` opens an episode, ``observation`` formats what the
    #: model reads after an action.
    _templates: Any

    def __init__(self, llm: LlmBackend, robot: RobotApi, world: Any | None,
                 config: AgentConfig | None, runs_dir: Path | str,
                 on_event: Callable[[AgentEvent], None] | None,
                 on_token: Callable[[str], None] | None) -> None:
        self.llm = llm
        self.robot = robot
        self.world = world
        self.config = config or AgentConfig()
        self.runs_dir = Path(runs_dir)
        self.on_event = on_event
        self.on_token = on_token
        self.system_prompt = ''
        self._cancel = threading.Event()
        self._busy = threading.Lock()

    # -- what a mode provides ---------------------------------------------------------------

    def _first_message(self, task: str) -> str:
        """Return the user message that opens an episode for ``task``."""
        return self._templates.task.format(task=task).strip()

    def _example_messages(self) -> list[Message]:
        """Return the worked examples as chat turns between the system prompt and the task."""
        return example_messages(self._templates.examples[:max(0, self.config.n_examples)],
                                self._templates.task, self._templates.observation)

    def _start_episode(self) -> None:
        """Reset per-episode state before the first turn (inside the error handling)."""
        self.llm.reset()

    def _episode_facts(self) -> dict[str, Any]:
        """Return what the episode_start record should say about this agent's setup."""
        return {}

    @abstractmethod
    def _turn(self, turn: int, episode: Episode, remaining: float) -> EpisodeResult | None:
        """Run one model reply and its action; return the result once the episode ended."""

    # -- public ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the episode now: the model, the running action and the robot (thread-safe)."""
        self._cancel.set()
        self.robot.emergency_stop('episode cancelled')

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called for the current episode."""
        return self._cancel.is_set()

    @abstractmethod
    def close(self) -> None:
        """Release what the agent holds (executor, threads)."""

    def __enter__(self) -> EpisodeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, task: str) -> EpisodeResult:
        """Run one episode for a plain-language task and return how it ended.

        Model mistakes (errors, no action, blocked motions) go back to the model as
        observations; LLM and executor infrastructure errors stop the robot and end the
        episode with ``error`` set; anything else stops the robot and propagates.
        """
        if not self._busy.acquire(blocking=False):
            raise RuntimeError('an episode is already running on this agent')
        try:
            self._cancel.clear()
            return self._run(task)
        finally:
            self._busy.release()

    # -- the loop --------------------------------------------------------------------------

    def _run(self, task: str) -> EpisodeResult:
        cfg = self.config
        transcript = Transcript(self.runs_dir, task)
        examples = self._example_messages()
        episode = Episode(messages=[
            {'role': 'system', 'content': self.system_prompt}, *examples,
            {'role': 'user', 'content': self._first_message(task)},
        ], transcript=transcript, start=time.monotonic(), first=1 + len(examples))
        transcript.write('episode_start', task=task, mode=self.mode, backend=self.llm.describe(),
                         config=asdict(cfg), system_prompt=self.system_prompt,
                         **self._episode_facts())
        turn = 0
        result: EpisodeResult | None = None
        try:
            self._start_episode()
            while result is None:
                if turn >= cfg.max_turns:
                    result = self._finish(False, '', turn, f'turn limit ({cfg.max_turns}) '
                                          'reached without done() or fail()', transcript)
                    break
                remaining = cfg.max_episode_seconds - (time.monotonic() - episode.start)
                if remaining <= 1.0:
                    result = self._finish(False, '', turn, 'episode time limit '
                                          f'({cfg.max_episode_seconds:g} s) reached', transcript)
                    break
                turn += 1
                self._check_cancel()
                self._fit_context(episode.messages, episode.first)
                self._emit(AgentEvent(turn, 'generating', pose=self._pose()))
                result = self._turn(turn, episode, remaining)
        except (EpisodeCancelledError, GenerationCancelledError):
            result = self._finish(False, '', turn, 'cancelled', transcript)
        except EpisodeTimeLimitError:
            self._stop_robot('episode time limit')
            result = self._finish(False, '', turn, 'episode time limit '
                                  f'({cfg.max_episode_seconds:g} s) reached while the model was '
                                  'writing its reply', transcript)
        except (LlmError, ExecutorError) as e:
            what = 'LLM error' if isinstance(e, LlmError) else 'executor error'
            self._stop_robot(f'agent error: {e}' if isinstance(e, LlmError) else f'{what}: {e}')
            result = self._finish(False, '', turn, f'{what}: {e}', transcript,
                                  error=type(e).__name__)
        except BaseException as e:
            # Crash or interrupt: the robot must not keep moving; the error still propagates.
            self._stop_robot(f'agent crashed: {type(e).__name__}')
            transcript.write('episode_error', turn=turn, error=type(e).__name__, message=str(e))
            transcript.close()
            raise
        result.seconds = time.monotonic() - episode.start
        result.prompt_tokens = episode.prompt_tokens
        result.completion_tokens = episode.completion_tokens
        result.actions = list(episode.actions)
        transcript.write('episode_end', **result.to_dict())
        transcript.close()
        self._emit(AgentEvent(turn, 'finished', observation=result.summary
                              or result.failure_reason, pose=self._pose()))
        return result

    def _generate(self, episode: Episode, stop: tuple[str, ...],
                  remaining: float) -> Completion:
        """Ask the model for the next reply (cancellable, bounded) and count its tokens.

        A reply cut short by what remained of the episode ends the episode at its time limit
        (the model was too slow for the task); one cut by ``generation_timeout`` is an LLM
        failure (the backend is too slow or stuck).
        """
        cfg = self.config
        try:
            completion = self.llm.complete(
                episode.messages, stop=stop, max_tokens=cfg.max_new_tokens,
                timeout=min(cfg.generation_timeout, remaining), on_token=self.on_token,
                cancel=self._cancel)
        except GenerationTimeoutError as e:
            if remaining < cfg.generation_timeout:
                raise EpisodeTimeLimitError() from e
            raise
        episode.prompt_tokens += completion.prompt_tokens or 0
        episode.completion_tokens += completion.completion_tokens or 0
        return completion

    def _known_places(self, places: Any) -> Any:
        """Return the places for the prompt: given, else the world's, else the robot's."""
        if places is None and self.world is None:
            return self.robot.locations()
        return places

    @staticmethod
    def _turn_record(turn: int, prompt: str, completion: Completion) -> dict[str, Any]:
        """Return the transcript fields every turn has: the prompt, the reply, its numbers."""
        llm = completion.to_dict()
        llm.pop('text', None)
        return {'turn': turn, 'prompt': prompt, 'completion': completion.text, 'llm': llm}

    def _observe(self, result_text: str, pose: Pose | None) -> str:
        """Return the observation the model reads: the action's result and the robot state."""
        return self._templates.observation.format(
            result=clip_middle(result_text, self.config.observation_chars),
            state=self._robot_state(pose)).strip()

    def _finish(self, success: bool, summary: str, turns: int, failure_reason: str,
                transcript: Transcript, error: str | None = None) -> EpisodeResult:
        return EpisodeResult(success=success, summary=summary, turns=turns,
                             failure_reason=failure_reason, transcript_path=transcript.path,
                             error=error)

    def _outcome_result(self, kind: str, text: str, turn: int,
                        transcript: Transcript) -> EpisodeResult:
        """Return the result of the model's done(summary) or fail(reason)."""
        if kind == 'done':
            return self._finish(True, text, turn, '', transcript)
        return self._finish(False, text, turn, text or 'the model called fail()', transcript)

    # -- helpers ---------------------------------------------------------------------------

    def _stop_robot(self, reason: str = 'agent stop') -> None:
        self.robot.emergency_stop(reason)

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
        """Where the robot is, in words the model can act on, and whether it holds a box."""
        if pose is None or not all(math.isfinite(v) for v in (pose.x, pose.y)):
            where = 'position unknown'
        else:
            where = self._where(pose)
        try:
            held = 'holding a box' if self.robot.holding() else 'holding nothing'
        except RobotApiError as e:
            held = f'gripper unknown ({type(e).__name__})'
        return f'{where}, {held}'

    def _where(self, pose: Pose) -> str:
        near = place_near(self._places_for_state(), pose)
        if near is not None:
            return f'at {near}'
        aisle = self.world.aisle_at(pose.x, pose.y) if self.world is not None else None
        inside = f' in {aisle}' if aisle else ''
        return f'at x={pose.x:.1f}, y={pose.y:.1f}{inside}'

    def _places_for_state(self) -> Mapping[str, Place]:
        if self.world is not None:
            return self.world.places
        try:
            return self.robot.locations()
        except RobotApiError:
            return {}

    def _fit_context(self, messages: list[Message], first: int = 1) -> None:
        """Shorten old observations when the conversation nears the context size.

        The system prompt, the examples, the task (``messages[first]``) and the latest exchange
        stay intact. Shortened messages stay shortened, so the KV cache's prefix stays stable.
        """
        budget = self.config.context_tokens or getattr(self.llm, 'context_size', None)
        if not budget:
            return
        limit = int(budget) - self.config.max_new_tokens - 64
        for i in range(first + 1, max(first + 1, len(messages) - 2)):
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
