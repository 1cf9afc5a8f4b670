"""JSON tool-calling baseline: one {"tool": name, "args": {...}} call per turn.

The comparison with CodeAct is fair by construction: the same LLM backend, the same AgentConfig
limits (turns, time, tokens), the same information in the prompt (API reference generated from
the RobotApi docstrings, result types, errors, places, aisles, box locations, safety limits, and
the same three examples as tool calls), the same argument validation as the watchdog executor
(codeact_robot.executor.wire.Signature), the same robot API methods (whose safety layer sits in
the skills node) and the same transcript and EpisodeResult. Only the action format differs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import inspect
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from codeact_robot.agent.actions import action_line
from codeact_robot.agent.episode import (
    AgentConfig,
    AgentEvent,
    Episode,
    EpisodeAgent,
    EpisodeResult,
)
from codeact_robot.agent.prompt import (
    EXAMPLES_NOTE,
    api_reference,
    errors_reference,
    inventory_reference,
    limits_reference,
    places_reference,
    result_types,
    types_reference,
    world_facts,
)
from codeact_robot.api import errors as api_errors
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Place
from codeact_robot.executor.wire import Signature, result_message
from codeact_robot.llm.base import LlmBackend

PROMPT_FILE = 'json_tools.yaml'
# Stop before the model writes its own observation, and right after a call that is followed by
# a blank line, a second call or a closing fence (as CodeAct stops after its code block), so the
# model does not ramble. The cut-off closing brace is restored by parse_tool_call.
JSON_STOP: tuple[str, ...] = ('\nObservation:', '\nObservation\n', '}\n\n', '}\n{', '}\n```')
# Suffixes tried when a reply does not parse: the braces a stop sequence may have cut off.
_REPAIRS = ('', '}', '}}')
# A host call still running this long after emergency_stop() is abandoned.
SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class JsonPrompt:
    """The texts of the JSON tool-calling prompt file."""

    system: str
    task: str
    observation: str
    bad_call: str
    examples: tuple[dict[str, Any], ...]


@cache
def load_json_prompt(name: str = PROMPT_FILE) -> JsonPrompt:
    """Load the packaged JSON tool-calling prompt (``codeact_robot/eval/<name>``)."""
    text = resources.files('codeact_robot.prompts').joinpath(name).read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    return JsonPrompt(system=data['system'], task=data['task'],
                      observation=data['observation'], bad_call=data['bad_call'],
                      examples=tuple(data.get('examples') or ()))


@dataclass(frozen=True)
class ToolCall:
    """One parsed tool call, or why the reply held none."""

    tool: str = ''
    args: dict[str, Any] | list[Any] = dataclasses.field(default_factory=dict)
    error: str = ''
    extra_calls: int = 0  # further calls in the same reply (ignored: one call per turn)
    repaired: str = ''    # closing braces added back after a stop sequence cut them off

    def __bool__(self) -> bool:
        return bool(self.tool) and not self.error


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Return every JSON object that starts somewhere in ``text``, outermost first."""
    decoder = json.JSONDecoder()
    found, i = [], 0
    while True:
        i = text.find('{', i)
        if i == -1:
            return found
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(value, dict):
            found.append(value)
        i = end


def parse_tool_call(text: str) -> ToolCall:
    """Find the first {"tool": ..., "args": {...}} object in a reply.

    Also accepts the common {"name": ..., "arguments": {...}} form (e.g. Qwen's <tool_call>),
    so the baseline is not penalised for a spelling the model was trained on.
    """
    for suffix in _REPAIRS:
        call = _parse(text + suffix)
        if call:
            return replace(call, repaired=suffix)
    return _parse(text)


def _parse(text: str) -> ToolCall:
    calls = []
    for obj in _json_objects(text):
        # {"name": ...} alone is no call: it may be the arguments of a call cut short.
        name = obj.get('tool', obj.get('name') if 'arguments' in obj else None)
        if isinstance(name, str):
            args = obj.get('args', obj.get('arguments', {}))
            if isinstance(args, str):  # some models send the arguments JSON-encoded
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    args = None
            calls.append((name, args))
    if not calls:
        if re.search(r'"tool"\s*:', text):
            return ToolCall(error='Your tool call is not valid JSON.')
        return ToolCall(error='No JSON tool call found in your reply.')
    name, args = calls[0]
    if args is None:
        args = {}
    if not isinstance(args, dict | list):
        return ToolCall(tool=name, error='"args" must be a JSON object.')
    return ToolCall(tool=name, args=args, extra_calls=len(calls) - 1)


def to_plain(value: Any, digits: int = 3) -> Any:
    """Return a result as JSON-able data (dataclasses with their properties, rounded floats)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_plain(getattr(value, f.name), digits)
               for f in dataclasses.fields(value)}
        for name, attr in inspect.getmembers(type(value)):
            if isinstance(attr, property) and not name.startswith('_'):
                out[name] = to_plain(getattr(value, name), digits)
        return out
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, digits) for v in value]
    return value


@dataclass
class ToolResult:
    """What one tool call did (the JSON counterpart of the executor's ExecutionResult)."""

    tool: str
    args: Any
    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration: float = 0.0
    robot_stopped: bool = False

    def to_observation(self) -> str:
        """Return what the model reads: the JSON result or the error."""
        if self.ok:
            return json.dumps(to_plain(self.value), ensure_ascii=False)
        text = f'Error: {self.error_type}: {self.error_message}'
        if self.robot_stopped:
            text += '\nThe robot was stopped (motion canceled, zero velocity).'
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for the transcript."""
        out = asdict(self)
        out['value'] = to_plain(self.value)
        return out


def build_json_prompt(world: Any | None,
                      places: Sequence[Place] | Mapping[str, Place] | None = None,
                      inventory: Mapping[str, str] | None = None,
                      limits: Mapping[str, Any] | Sequence[str] | None = None,
                      n_examples: int = 4, prompt_file: str = PROMPT_FILE,
                      functions: Sequence[str] = RobotApi.PROMPT_FUNCTIONS) -> str:
    """Return the JSON-mode system prompt with the facts CodeActAgent puts into its prompt.

    Args:
        world: A codeact_robot.world.World (places, aisles, keep-out zones, box locations).
        places: Overrides the world's places (required when world is None).
        inventory: Overrides the world's box locations (box name -> place name).
        limits: Safety limits (mapping or lines); None takes codeact_robot.safety's defaults.
        n_examples: How many worked examples follow as chat turns (0: none, and no note).
        prompt_file: Packaged prompt file in codeact_robot/eval/.
        functions: The robot functions offered as tools (as in CodeAct's prompt).
    """
    facts = world_facts(world, places, inventory, limits)
    aisle_text = (f'Aisles (for "avoid": [...]): {", ".join(facts.aisles)}\n'
                  if facts.aisles else '')
    t = load_json_prompt(prompt_file)
    prompt = t.system.format(
        api=api_reference(functions), types=types_reference(result_types(functions)),
        errors=errors_reference(),
        places=places_reference(facts.places), aisles=aisle_text,
        inventory=inventory_reference(facts.inventory),
        limits=limits_reference(facts.limits or None, ()))
    if t.examples[:max(0, n_examples)]:
        prompt = prompt.rstrip() + '\n\n' + EXAMPLES_NOTE + '\n'
    return prompt


class JsonToolAgent(EpisodeAgent):
    """Run plain-language tasks as JSON tool-calling episodes on a robot.

    The constructor and ``run`` mirror codeact_robot.agent.CodeActAgent, so the evaluation
    runner treats both modes alike.
    """

    mode = 'json'

    def __init__(self, llm: LlmBackend, robot: RobotApi, world: Any | None = None,
                 config: AgentConfig | None = None, runs_dir: Path | str = Path('runs'),
                 on_event: Callable[[AgentEvent], None] | None = None,
                 limits: Mapping[str, Any] | Sequence[str] | None = None,
                 places: Sequence[Place] | Mapping[str, Place] | None = None,
                 inventory: Mapping[str, str] | None = None,
                 on_token: Callable[[str], None] | None = None,
                 prompt_file: str = PROMPT_FILE) -> None:
        """Create the agent; arguments as for CodeActAgent (``config.stop`` is not used)."""
        super().__init__(llm, robot, world, config, runs_dir, on_event, on_token)
        self._prompt_file = prompt_file
        self._templates = load_json_prompt(prompt_file)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, 'json-tool')
        self._signatures = {name: Signature(name, getattr(robot, name), getattr(RobotApi, name))
                            for name in self.config.callable_functions}
        self.system_prompt = self._build_prompt(places, inventory, limits)

    def _build_prompt(self, places: Sequence[Place] | Mapping[str, Place] | None,
                      inventory: Mapping[str, str] | None,
                      limits: Mapping[str, Any] | Sequence[str] | None) -> str:
        return build_json_prompt(self.world, self._known_places(places), inventory, limits,
                                 n_examples=self.config.n_examples,
                                 prompt_file=self._prompt_file,
                                 functions=self.config.functions)

    # -- public ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the worker thread."""
        self._pool.shutdown(wait=False)

    # -- one turn --------------------------------------------------------------------------

    def _turn(self, turn: int, episode: Episode, remaining: float) -> EpisodeResult | None:
        cfg = self.config
        messages, transcript = episode.messages, episode.transcript
        prompt = messages[-1]['content']
        completion = self._generate(episode, JSON_STOP, remaining)
        call = parse_tool_call(completion.text)
        # The history shows the call as it was meant: with braces a stop sequence cut off.
        messages.append({'role': 'assistant', 'content': (completion.text.rstrip()
                                                          + call.repaired).strip()})
        record = {**self._turn_record(turn, prompt, completion), 'tool': call.tool,
                  'args': call.args, 'parse_error': call.error, 'extra_calls': call.extra_calls}
        if not call:
            observation = self._templates.bad_call.format(problem=call.error).strip()
            transcript.write('turn', **record, observation=observation)
            self._emit(AgentEvent(turn, 'observed', observation=observation, pose=self._pose()))
            messages.append({'role': 'user', 'content': observation})
            return None
        code = json.dumps({'tool': call.tool, 'args': call.args})
        self._emit(AgentEvent(turn, 'executing', code=code, pose=self._pose()))
        if call.tool in ('done', 'fail'):
            text = _text_arg(call.args, 'summary' if call.tool == 'done' else 'reason')
            transcript.write('turn', **record, observation='')
            self._emit(AgentEvent(turn, 'observed', code=code, pose=self._pose()))
            return self._outcome_result(call.tool, text, turn, transcript)
        result = self._call(call, min(cfg.turn_timeout, max(1.0, remaining - completion.seconds)))
        line = action_line(call.tool, call.args, {}, result.ok, result_message(result.value),
                           result.error_type, result.error_message)
        if line:
            episode.actions.append(line)
        pose = self._pose()
        body = result.to_observation()
        if call.extra_calls:
            body += (f'\n(Only the first tool call ran; {call.extra_calls} more in your reply '
                     'were ignored: one call per turn.)')
        observation = self._observe(body, pose)
        transcript.write('turn', **record, observation=observation, execution=result.to_dict(),
                         execution_seconds=result.duration)
        self._emit(AgentEvent(turn, 'observed', code=code, observation=observation, pose=pose))
        messages.append({'role': 'user', 'content': observation})
        return None

    def _call(self, call: ToolCall, timeout: float) -> ToolResult:
        """Validate like the executor does, call the robot API, turn errors into results."""
        began = time.monotonic()
        sig = self._signatures.get(call.tool)
        if sig is None:
            tools = ', '.join((*self._signatures, 'done', 'fail'))
            return ToolResult(call.tool, call.args, False, error_type='UnknownTool',
                              error_message=f'no tool {call.tool!r}; tools: {tools}')
        try:
            args, kwargs = (list(call.args), {}) if isinstance(call.args, list) else (
                [], dict(call.args))
            bound = sig.bind(args, kwargs)
        except (TypeError, ValueError) as e:
            return ToolResult(call.tool, call.args, False, error_type=type(e).__name__,
                              error_message=str(e))
        future = self._pool.submit(sig.func, *bound.args, **bound.kwargs)
        try:
            value = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self.robot.emergency_stop(f'tool {call.tool} timed out')
            self._settle(future)
            return ToolResult(call.tool, call.args, False, error_type='TimeoutError',
                              error_message=f'still running after {timeout:.0f} s',
                              duration=time.monotonic() - began, robot_stopped=True)
        except api_errors.RobotApiError as e:
            stopped = isinstance(e, api_errors.SafetyStopError)
            if stopped:
                # The executor stops the robot on an unhandled safety stop; so does this mode.
                self.robot.emergency_stop(f'safety: {call.tool}: {e}')
            return ToolResult(call.tool, call.args, False, error_type=api_errors.error_name(e),
                              error_message=str(e), duration=time.monotonic() - began,
                              robot_stopped=stopped)
        return ToolResult(call.tool, call.args, True, value=value,
                          duration=time.monotonic() - began)

    def _settle(self, future: concurrent.futures.Future[Any]) -> None:
        """Give a call that outlived its timeout a bounded time to end after the stop."""
        try:
            future.result(timeout=SETTLE_SECONDS)
        except concurrent.futures.TimeoutError:
            self._pool.shutdown(wait=False)
            self._pool = concurrent.futures.ThreadPoolExecutor(1, 'json-tool')
        except api_errors.RobotApiError:
            return  # its outcome no longer matters after the stop


def _text_arg(args: dict[str, Any] | list[Any], key: str) -> str:
    if isinstance(args, list):
        return str(args[0]) if args else ''
    value = args.get(key)
    if value is None and len(args) == 1:
        value = next(iter(args.values()))  # e.g. {"text": ...}: the meaning is clear
    return '' if value is None else str(value)
