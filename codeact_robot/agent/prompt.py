"""Build the CodeAct system prompt from the API's docstrings, the world and the safety limits.

The wording lives in the packaged ``codeact_robot/prompts/*.yaml`` files; this module only fills
in what must come from the code (signatures, docstrings, result types, errors, places).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from codeact_robot.api import types as api_types
from codeact_robot.api.errors import API_ERRORS
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Place

DEFAULT_PROMPT = 'codeact.yaml'
RESULT_TYPES = (api_types.Pose, api_types.MoveResult, api_types.Route, api_types.Detection,
                api_types.Place)


#: Closes a system prompt that is followed by example conversations.
EXAMPLES_NOTE = ('The first conversations below are examples from another warehouse: their '
                 'places and boxes are not yours.')


class PromptFileError(ValueError):
    """A prompt file is missing a required key or has the wrong shape."""


@dataclass(frozen=True)
class PromptTemplates:
    """The texts of one prompt file."""

    system: str
    task: str
    observation: str
    no_code: str
    default_limits: tuple[str, ...]
    examples: tuple[dict[str, Any], ...]
    prose_answer: str = ''
    held_outcome: str = ''
    repeated: str = ''


@cache
def load_prompt_file(name: str = DEFAULT_PROMPT) -> PromptTemplates:
    """Load a packaged prompt file (``codeact_robot/prompts/<name>``)."""
    text = resources.files('codeact_robot.prompts').joinpath(name).read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    missing = [k for k in ('system', 'task', 'observation', 'no_code') if k not in data]
    if missing:
        raise PromptFileError(f'prompt file {name} lacks {missing}')
    return PromptTemplates(
        system=data['system'], task=data['task'], observation=data['observation'],
        no_code=data['no_code'], default_limits=tuple(data.get('default_limits') or ()),
        examples=tuple(data.get('examples') or ()),
        prose_answer=data.get('prose_answer', ''), held_outcome=data.get('held_outcome', ''),
        repeated=data.get('repeated', ''))


def _signature(name: str, fn: Any) -> str:
    """Render ``name(args) -> ret`` from the source annotations (strings, as written)."""
    sig = inspect.signature(fn)
    parts = []
    for p in sig.parameters.values():
        if p.name == 'self':
            continue
        text = p.name
        if p.annotation is not inspect.Parameter.empty:
            text += f': {_annotation(p.annotation)}'
        if p.default is not inspect.Parameter.empty:
            text += f' = {p.default!r}'
        parts.append(text)
    ret = ''
    if sig.return_annotation is not inspect.Signature.empty:
        ret = f' -> {_annotation(sig.return_annotation)}'
    return f'{name}({", ".join(parts)}){ret}'


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation).replace('codeact_robot.api.types.', '')


def api_reference(functions: Sequence[str] = RobotApi.PROMPT_FUNCTIONS,
                  api_class: type = RobotApi) -> str:
    """Render each function's signature and docstring, indented, one block per function."""
    blocks = []
    for name in functions:
        fn = getattr(api_class, name)
        body = compact_docstring(inspect.getdoc(fn) or '')
        blocks.append(f'{_signature(name, fn)}\n{body}' if body else _signature(name, fn))
    return '\n'.join(blocks)


def compact_docstring(doc: str, indent: str = '  ') -> str:
    """Shorten a Google-style docstring for a small model's context.

    Blank lines go, continuation lines are joined, ``Args:`` entries become ``name: text``
    lines and ``Returns:`` becomes one ``Returns ...`` line.
    """
    entries: list[str] = []
    section = ''
    new_entry = True
    for raw in doc.splitlines():
        line = raw.strip()
        if not line:
            new_entry = True
            continue
        if line in ('Args:', 'Returns:', 'Raises:'):
            section = line[:-1]
            if section != 'Args':
                entries.append(section + ':')  # its text joins this line
            new_entry = section == 'Args'
            continue
        if section == 'Args' and len(raw) - len(raw.lstrip()) <= 4:
            new_entry = True  # a new argument (continuations are indented deeper)
        if new_entry or not entries:
            entries.append(line)
        else:
            entries[-1] += ' ' + line
        new_entry = False
    if len(entries) == 2 and entries[0].startswith('Return ') and entries[1].startswith(
            'Returns:'):
        entries.pop()  # "Return the pose. Returns: Pose with ..." says it twice
    return '\n'.join(indent + e for e in entries)


def types_reference(types: Sequence[type] = RESULT_TYPES) -> str:
    """Render the result dataclasses as ``Name(field, ...)`` lines plus their properties."""
    lines = []
    for cls in types:
        fields = [f.name for f in dataclasses.fields(cls)]
        props = [n for n, v in vars(cls).items() if isinstance(v, property)]
        extra = f'; property {", ".join(props)}' if props else ''
        lines.append(f'{cls.__name__}({", ".join(fields)}){extra}')
    return '\n'.join(lines)


def result_types(functions: Sequence[str]) -> tuple[type, ...]:
    """Return the result types the functions return (Route, Place only with their getters)."""
    out = [api_types.MoveResult, api_types.Pose, api_types.Detection]
    if 'plan_route' in functions:
        out.append(api_types.Route)
    if 'locations' in functions:
        out.append(api_types.Place)
    return tuple(out)


def errors_reference() -> str:
    """Render the API error names, base class first."""
    return ', '.join(e.__name__ for e in API_ERRORS)


def places_reference(places: Iterable[Place] | Mapping[str, Place]) -> str:
    """Render places as ``- name: x, y description`` lines, sorted by name."""
    items = places.values() if isinstance(places, Mapping) else places
    lines = []
    for p in sorted(items, key=lambda p: p.name):
        desc = f' {p.description}' if p.description else ''
        lines.append(f'- {p.name}: {p.x:.2f}, {p.y:.2f}{desc}')
    return '\n'.join(lines) if lines else '- (none known: call locations())'


def limits_reference(limits: Mapping[str, Any] | Sequence[str] | None,
                     defaults: Sequence[str]) -> str:
    """Render safety limits: a mapping as ``- key: value`` lines, strings as given."""
    if limits is None:
        items: list[str] = list(defaults)
    elif isinstance(limits, Mapping):
        items = [f'{k.replace("_", " ")}: {v}' for k, v in limits.items()]
    else:
        items = list(limits)
    return '\n'.join(f'- {line.strip()}' for line in items)


def inventory_reference(inventory: Mapping[str, str] | None) -> str:
    """Render where boxes are stored as one line (empty without an inventory)."""
    if not inventory:
        return ''
    return 'Boxes are stored at: ' + ', '.join(
        f'{box} -> {place}' for box, place in sorted(inventory.items())) + '\n'


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


@dataclass(frozen=True)
class WorldFacts:
    """What every agent mode tells the model about the world, ready for its prompt."""

    places: Sequence[Place] | Mapping[str, Place]
    aisles: list[str]
    inventory: Mapping[str, str] | None
    limits: list[str]


def world_facts(world: Any | None,
                places: Sequence[Place] | Mapping[str, Place] | None = None,
                inventory: Mapping[str, str] | None = None,
                limits: Mapping[str, Any] | Sequence[str] | None = None) -> WorldFacts:
    """Collect places, aisles, box locations, safety limits and keep-out zones.

    Args:
        world: A codeact_robot.world.World, or None when only ``places`` are known.
        places: Overrides the world's places.
        inventory: Overrides the world's box locations (box name -> place name).
        limits: Safety limits (mapping or lines); None takes codeact_robot.safety's defaults.
    """
    if places is None:
        places = world.places if world is not None else {}
    aisles = [a.name for a in world.aisles] if world is not None else []
    if inventory is None and world is not None:
        inventory = {b.name: b.location for b in world.boxes}
    lines = limit_lines(limits)
    if world is not None:
        for zone in world.keep_out:
            r = zone.rect
            lines.append(f'keep-out zone "{zone.name}": x {r.xmin:g}..{r.xmax:g}, '
                         f'y {r.ymin:g}..{r.ymax:g} (never enter)')
    return WorldFacts(places, aisles, inventory, lines)


def example_messages(examples: Sequence[dict[str, Any]], task: str,
                     observation: str) -> list[dict[str, str]]:
    """Render few-shot examples as chat turns: task, reply, observation, reply, ...

    Args:
        examples: The prompt file's examples: ``task``, ``state`` (the robot before it) and
            ``turns`` of ``assistant`` text with an optional ``observation`` and ``state``.
        task: The template that opens an episode (``{task}``).
        observation: The observation template (``{result}``, ``{state}``).

    Returns:
        Alternating user and assistant messages, beginning with the first example's task.
    """
    out: list[dict[str, str]] = []
    for ex in examples:
        out.append({'role': 'user', 'content': task.format(task=ex['task']).strip()})
        for turn in ex.get('turns', ()):
            out.append({'role': 'assistant', 'content': turn['assistant'].strip()})
            result = (turn.get('observation') or '').rstrip()
            if result:
                out.append({'role': 'user', 'content': observation.format(
                    result=result, state=turn.get('state', '')).strip()})
    return out


def build_system_prompt(places: Iterable[Place] | Mapping[str, Place],
                        limits: Mapping[str, Any] | Sequence[str] | None = None,
                        aisles: Sequence[str] = (),
                        inventory: Mapping[str, str] | None = None,
                        prompt_file: str = DEFAULT_PROMPT,
                        n_examples: int = 3,
                        functions: Sequence[str] = RobotApi.PROMPT_FUNCTIONS) -> str:
    """Return the system prompt for the given places, limits and aisle names.

    Args:
        places: The world's named places (a list or the World.places dict).
        limits: Safety limits as a mapping (name -> value) or lines; None for the file's
            defaults.
        aisles: Aisle names the model may pass in avoid=[...].
        inventory: Where boxes are stored: box name -> place name.
        prompt_file: Packaged prompt file name.
        n_examples: Examples follow as chat turns (example_messages); with any, the prompt
            says where they come from.
        functions: The API functions exposed to the model.

    Returns:
        The filled-in system prompt.
    """
    t = load_prompt_file(prompt_file)
    aisle_text = f'Aisles (for avoid=[...]): {", ".join(aisles)}\n' if aisles else ''
    prompt = t.system.format(
        api=api_reference(functions), types=types_reference(result_types(functions)),
        errors=errors_reference(),
        places=places_reference(places), aisles=aisle_text,
        inventory=inventory_reference(inventory),
        limits=limits_reference(limits, t.default_limits))
    if t.examples[:max(0, n_examples)]:
        prompt = prompt.rstrip() + '\n\n' + EXAMPLES_NOTE + '\n'
    return prompt
