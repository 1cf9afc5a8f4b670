"""The CodeAct loop: the model writes code, the watchdog executor runs it, the result goes back.

One ``CodeActAgent.run(task)`` is one episode: bounded in turns and wall-clock time, cancellable
from any thread (cancel stops the code and the robot), logged to a JSONL transcript as it goes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from codeact_robot.agent.actions import action_line
from codeact_robot.agent.episode import (
    PHASES,
    STOP_SEQUENCES,
    AgentConfig,
    AgentEvent,
    Episode,
    EpisodeAgent,
    EpisodeCancelledError,
    EpisodeResult,
    clip_middle,
)
from codeact_robot.agent.extraction import close_open_fence, extract_code
from codeact_robot.agent.prompt import build_system_prompt, load_prompt_file, world_facts
from codeact_robot.api.errors import RobotApiError
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import MoveResult, Place
from codeact_robot.llm.base import LlmBackend

__all__ = [
    'PHASES', 'STOP_SEQUENCES', 'AgentConfig', 'AgentEvent', 'CodeActAgent', 'CodeExecutor',
    'EpisodeCancelledError', 'EpisodeResult', 'clip_middle',
]


#: Robot functions that only read: they neither fail an action nor clear a failure.
QUERY_FUNCTIONS = frozenset(('get_pose', 'locations', 'holding', 'blocked_aisles', 'plan_route',
                             'perceive', 'say'))
#: Longest prose reply handed back to be sent with done().
PROSE_ANSWER_CHARS = 300


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


class CodeActAgent(EpisodeAgent):
    """Run plain-language tasks as CodeAct episodes on a robot.

    Example::

        agent = CodeActAgent(llm=create_backend('auto'), robot=robot_api, world=load_world(),
                             config=AgentConfig(max_turns=8), runs_dir=Path('runs'))
        result = agent.run('bring the red box to the packing station')
    """

    mode = 'codeact'

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
        super().__init__(llm, robot, world, config, runs_dir, on_event, on_token)
        self._templates = load_prompt_file(self.config.prompt_file)
        self._outcome: tuple[str, str] | None = None
        self._held: tuple[str, str] | None = None   # a done()/fail() waiting for the next turn
        self._last_action_failed = False             # the turn's latest robot action failed
        self._turn_id = 0
        self._last_turn = False                      # no turn left to confirm a held outcome
        self._last_ran: tuple[str, int] = ('', 0)    # last code that ran, and its turn
        self._outcome_lock = threading.Lock()
        self.system_prompt = self._build_prompt(places, inventory, limits)
        self._executor = executor if executor is not None else self._make_executor()

    # -- setup -----------------------------------------------------------------------------

    def _make_executor(self) -> CodeExecutor:
        from codeact_robot.executor import ExecutionLimits, Executor
        limits = ExecutionLimits(call_timeout_s=self.config.turn_timeout,
                                 episode_timeout_s=self.config.max_episode_seconds)
        table = {name: self._guarded(getattr(self.robot, name))
                 for name in self.config.callable_functions}
        table.update(done=self._done, fail=self._fail)
        return Executor(api=self.robot, functions=table, limits=limits,
                        on_stop=self._stop_robot)

    def _guarded(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a robot function: refuse once the episode is over, note what did not succeed.

        The executor runs the model's code to its end or its timeout; this makes every robot
        call after a cancel, done() or fail() raise instead of moving the robot again. Whether
        the latest action of the turn failed (raised, a motion that did not arrive, a grasp
        that returned False) is kept, so a done()/fail() right after it can be held (_turn).
        Queries (pose, gripper, perception) neither fail nor clear it.
        """
        is_query = func.__name__ in QUERY_FUNCTIONS

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            turn = self._turn_id  # a call that outlives its turn must not mark the next one
            if self._cancel.is_set():
                raise RobotApiError('the episode was cancelled: stop now')
            with self._outcome_lock:
                ended = self._outcome is not None
            if ended:
                raise RobotApiError('the episode already ended with done() or fail(); '
                                    'no more robot calls')
            try:
                value = func(*args, **kwargs)
            except RobotApiError:
                if not is_query:
                    self._note_action(turn, failed=True)
                raise
            if not is_query:
                failed = (isinstance(value, MoveResult) and not value.arrived) or (
                    func.__name__ == 'grasp' and value is False)
                self._note_action(turn, failed)
            return value
        return call

    def _note_action(self, turn: int, failed: bool) -> None:
        with self._outcome_lock:
            if turn == self._turn_id:
                self._last_action_failed = failed

    def _build_prompt(self, places: Sequence[Place] | Mapping[str, Place] | None,
                      inventory: Mapping[str, str] | None,
                      limits: Mapping[str, Any] | Sequence[str] | None) -> str:
        facts = world_facts(self.world, self._known_places(places), inventory, limits)
        return build_system_prompt(facts.places, limits=facts.limits or None,
                                   aisles=facts.aisles, inventory=facts.inventory,
                                   prompt_file=self.config.prompt_file,
                                   n_examples=self.config.n_examples,
                                   functions=self.config.functions)

    # -- the model's done()/fail() (called by the executor on the trusted side) ------------

    def _done(self, summary: str = '') -> str:
        """Record the model's done(summary)."""
        return self._record_outcome('done', summary)

    def _fail(self, reason: str = '') -> str:
        """Record the model's fail(reason)."""
        return self._record_outcome('fail', reason)

    def _record_outcome(self, kind: str, text: Any) -> str:
        """Take the first done()/fail() of a turn, or hold it when it follows a failed action.

        A small model writes the ending into the block that does the work, before it has seen
        any result; after an action that did not succeed it has not seen why, so the ending
        waits for the next turn, when the model has read the observation.
        """
        with self._outcome_lock:
            if self._held is not None:
                return 'not accepted yet: read the results of this code first'
            if self._outcome is not None:
                return 'episode finished'
            if self._last_action_failed and not self._last_turn:
                self._held = (kind, str(text))
                return 'not accepted yet: read the results of this code first'
            self._outcome = (kind, str(text))
        return 'episode finished'

    # -- public ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the episode now: the model, the running code and the robot (thread-safe)."""
        self._cancel.set()
        self._executor.cancel('episode cancelled')  # kills the running code, stops the robot
        self.robot.emergency_stop('episode cancelled')  # also when no code was running

    def close(self) -> None:
        """Stop the executor's sandbox."""
        self._executor.close()

    # -- one turn --------------------------------------------------------------------------

    def _episode_facts(self) -> dict[str, Any]:
        # Which OS layers guard the model's code in this episode (a degraded sandbox shows).
        layers = getattr(self._executor, 'checked_layers', None)
        missing = getattr(self._executor, 'missing_layers', None)
        return {} if layers is None else {'sandbox_layers': layers,
                                           'sandbox_missing': list(missing or [])}

    def _start_episode(self) -> None:
        super()._start_episode()
        with self._outcome_lock:
            self._outcome = None
            self._held = None
            self._last_action_failed = False
        self._last_ran = ('', 0)
        self._executor.reset()

    def _turn(self, turn: int, episode: Episode, remaining: float) -> EpisodeResult | None:
        cfg = self.config
        messages, transcript = episode.messages, episode.transcript
        prompt = messages[-1]['content']
        completion = self._generate(episode, cfg.stop, remaining)
        reply = close_open_fence(completion.text.strip())
        messages.append({'role': 'assistant', 'content': reply})
        extracted = extract_code(completion.text)
        record = {**self._turn_record(turn, prompt, completion), 'code': extracted.code,
                  'code_source': extracted.source, 'code_blocks': extracted.blocks}
        self._check_cancel()
        code_key = _normalized(extracted.code) if extracted else ''
        if not extracted or code_key == self._last_ran[0]:
            observation = (self._no_code_observation(reply) if not extracted else
                           self._templates.repeated.format(turn=self._last_ran[1]).strip())
            messages.append({'role': 'user', 'content': observation})
            transcript.write('turn', **record, observation=observation, execution=None,
                             not_run='no code' if not extracted else 'repeated code')
            self._emit(AgentEvent(turn, 'observed', observation=observation, pose=self._pose()))
            return None
        self._emit(AgentEvent(turn, 'executing', code=extracted.code, pose=self._pose()))
        with self._outcome_lock:
            self._turn_id = turn
            self._last_action_failed = False
            self._held = None
            self._last_turn = turn >= cfg.max_turns
        exec_start = time.monotonic()
        exec_result = self._executor.run(
            extracted.code, timeout=min(cfg.turn_timeout, max(1.0, remaining -
                                                              completion.seconds)))
        exec_seconds = time.monotonic() - exec_start
        episode.actions.extend(line for call in exec_result.api_calls if (line := action_line(
            call.name, call.args, call.kwargs, call.ok, call.message, call.error_type,
            call.error_message)))
        # Only code that ran to its end or to an error in it is refused when sent again: after
        # a timeout or a crash, or once the world changed, the same code may well work.
        ran = getattr(exec_result.status, 'value', exec_result.status) in ('ok', 'error')
        self._last_ran = (code_key, turn) if ran else ('', 0)
        pose = self._pose()
        observation = self._observe(exec_result.to_observation(), pose)
        with self._outcome_lock:
            outcome, held = self._outcome, self._held
        if held is not None:
            observation += '\n' + self._templates.held_outcome.format(
                call=held[0], meaning='finished' if held[0] == 'done' else 'impossible').strip()
        transcript.write('turn', **record, observation=observation,
                         execution=exec_result.to_dict(), execution_seconds=exec_seconds,
                         held_outcome=list(held) if held else None)
        self._emit(AgentEvent(turn, 'observed', code=extracted.code, observation=observation,
                              pose=pose))
        self._check_cancel()
        if outcome is not None:
            return self._outcome_result(*outcome, turn, transcript)
        messages.append({'role': 'user', 'content': observation})
        return None

    def _no_code_observation(self, reply: str) -> str:
        """Return what a reply without code gets: prose is handed back to be sent with done()."""
        answer = ' '.join(reply.replace('```', ' ').split())
        if not answer or not self._templates.prose_answer:
            return self._templates.no_code.strip()
        if len(answer) > PROSE_ANSWER_CHARS:
            answer = answer[:PROSE_ANSWER_CHARS].rsplit(' ', 1)[0] + ' ...'
        answer = answer.replace('\\', '\\\\').replace('"', '\\"')
        return self._templates.prose_answer.format(answer=answer).strip()


def _normalized(code: str) -> str:
    """Code with trailing spaces and blank lines gone: what makes two replies the same."""
    return '\n'.join(line.rstrip() for line in code.strip().splitlines() if line.strip())
