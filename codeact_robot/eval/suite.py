"""The task suite (sim/tasks/<name>.yaml): commands, scenarios and success predicates.

ROS-free. A suite names its world and holds tasks; each task has an id, a category, the
plain-language command, a scenario (sim/scenarios/<name>.yaml), optional seed and turn limit,
its success predicates (codeact_robot.eval.predicates) and optional scripted reference replies
per mode for the replay backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codeact_robot.eval import predicates
from codeact_robot.world import World, WorldError, load_scenario, load_world
from codeact_robot.world.model import resolve

CATEGORIES = ('navigation', 'fetch', 'multi_object', 'perception', 'replanning', 'unsafe')
MODES = ('codeact', 'json')


class SuiteError(ValueError):
    """The suite file is malformed or refers to things the world does not have."""


@dataclass(frozen=True)
class Task:
    """One evaluation task."""

    id: str
    category: str
    command: str
    scenario: str = 'default'
    seed: int | None = None          # None: the scenario's seed plus the run's seed
    max_turns: int | None = None     # None: the runner's default
    success: tuple[Mapping[str, Any], ...] = ()
    replay: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: str = ''

    @property
    def time_limit(self) -> float | None:
        """The task's time_limit predicate in seconds, if it has one."""
        for entry in self.success:
            if 'time_limit' in entry:
                return float(entry['time_limit'])
        return None


@dataclass(frozen=True)
class Suite:
    """A named list of tasks for one world."""

    name: str
    description: str
    world_name: str
    tasks: tuple[Task, ...]
    source: Path | None = None

    def task(self, task_id: str) -> Task:
        """Return the task with this id."""
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(f'no task {task_id!r}; tasks: {[t.id for t in self.tasks]}')

    def select(self, ids: Sequence[str] | None) -> list[Task]:
        """Return the tasks with these ids in the given order (all tasks for None/empty)."""
        if not ids:
            return list(self.tasks)
        return [self.task(i) for i in ids]

    def world(self) -> World:
        """Load the suite's world."""
        return load_world(self.world_name)


def _merge(defaults: Sequence[Mapping[str, Any]],
           own: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """Prepend the suite's default predicates, unless the task sets one of the same name."""
    own_names = {name for entry in own for name in entry}
    return tuple([d for d in defaults if not own_names & set(d)] + list(own))


def _task(data: Mapping[str, Any], defaults: Sequence[Mapping[str, Any]]) -> Task:
    try:
        replay = {str(mode): tuple(str(c) for c in replies)
                  for mode, replies in (data.get('replay') or {}).items()}
        own = data.get('success') or []
        if not isinstance(own, list):
            raise SuiteError(f'task {data.get("id")}: success must be a list of predicates')
        return Task(
            id=str(data['id']), category=str(data['category']),
            command=' '.join(str(data['command']).split()),
            scenario=str(data.get('scenario', 'default')),
            seed=int(data['seed']) if data.get('seed') is not None else None,
            max_turns=int(data['max_turns']) if data.get('max_turns') is not None else None,
            success=_merge(defaults, own), replay=replay,
            notes=' '.join(str(data.get('notes', '')).split()))
    except KeyError as e:
        raise SuiteError(f'task {data.get("id", "?")}: missing {e}') from e


def validate_suite(suite: Suite, world: World | None = None) -> None:
    """Check ids, categories, modes, scenarios and predicates; raise SuiteError."""
    world = world or suite.world()
    ids = [t.id for t in suite.tasks]
    if len(set(ids)) != len(ids):
        raise SuiteError(f'task ids must be unique: {ids}')
    for t in suite.tasks:
        if t.category not in CATEGORIES:
            raise SuiteError(f'task {t.id}: category must be one of {CATEGORIES}')
        if not t.command:
            raise SuiteError(f'task {t.id}: empty command')
        if not t.success:
            raise SuiteError(f'task {t.id}: no success predicates')
        unknown = set(t.replay) - set(MODES)
        if unknown:
            raise SuiteError(f'task {t.id}: replay modes must be among {MODES}, not {unknown}')
        try:
            load_scenario(t.scenario, world)
        except WorldError as e:
            raise SuiteError(f'task {t.id}: scenario {t.scenario!r}: {e}') from e
        try:
            predicates.validate(list(t.success), world)
        except predicates.PredicateError as e:
            raise SuiteError(f'task {t.id}: {e}') from e


def load_suite(name_or_path: str = 'warehouse', validate: bool = True) -> Suite:
    """Load a suite by name (sim/tasks/<name>.yaml) or path and validate it against its world."""
    try:
        path = resolve('tasks', name_or_path)
    except WorldError as e:
        raise SuiteError(str(e)) from e
    with path.open(encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or not isinstance(data.get('tasks'), list):
        raise SuiteError(f'{path}: expected a mapping with a tasks list')
    defaults = (data.get('defaults') or {}).get('success') or []
    suite = Suite(name=str(data.get('name', path.stem)),
                  description=' '.join(str(data.get('description', '')).split()),
                  world_name=str(data.get('world', 'warehouse')),
                  tasks=tuple(_task(t, defaults) for t in data['tasks']), source=path)
    if validate:
        validate_suite(suite)
    return suite
