"""Machine-checked success predicates over simulator ground truth and the episode's outcome.

ROS-free. Predicates read only ``GroundTruth`` snapshots (what the simulator says is true), the
agent's final answer and outcome, the safety events and the time: never the robot API. Each
predicate is one entry of a task's ``success:`` list in the suite YAML, e.g.
``{box_in: {box: red box, area: packing station}}``; all entries must hold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codeact_robot.safety.events import SafetyIntervention
from codeact_robot.sim.ground_truth import GroundTruth
from codeact_robot.world import Rect, World

__all__ = ['EpisodeFacts', 'GroundTruth', 'PredicateError', 'SafetyIntervention', 'evaluate']


class PredicateError(ValueError):
    """A predicate spec is malformed or names something the world does not have."""


@dataclass
class EpisodeFacts:
    """Everything a predicate may look at after an episode."""

    final: GroundTruth
    initial: GroundTruth | None = None
    trajectory: Sequence[GroundTruth] = ()
    answer: str = ''           # done(summary) or fail(reason) text
    outcome: str = 'none'      # done | fail | none (turn/time limit, error)
    safety_events: Sequence[SafetyIntervention] = ()
    seconds: float = 0.0
    turns: int = 0


@dataclass(frozen=True)
class Check:
    """The verdict of one predicate: its spec, whether it held, and why."""

    name: str
    spec: Any
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {'name': self.name, 'spec': self.spec, 'passed': self.passed,
                'detail': self.detail}


Predicate = Callable[[Any, EpisodeFacts, World], Check]
PREDICATES: dict[str, Predicate] = {}


def _predicate(name: str) -> Callable[[Predicate], Predicate]:
    def register(fn: Predicate) -> Predicate:
        PREDICATES[name] = fn
        return fn
    return register


def area_rect(world: World, name: str, tolerance: float = 0.5) -> Rect:
    """Resolve an area name: a station's drop zone, a keep-out zone, an aisle or a place.

    A place becomes a square of side ``2 * tolerance`` around it.
    """
    for station in world.stations:
        if station.name == name and station.drop_zone is not None:
            return station.drop_zone
    for zone in world.keep_out:
        if zone.name == name:
            return zone.rect
    for aisle in world.aisles:
        if aisle.name == name:
            return aisle.rect
    place = world.places.get(name)
    if place is not None:
        return Rect.around(place.x, place.y, 2 * tolerance, 2 * tolerance)
    raise PredicateError(f'unknown area {name!r}: not a drop zone, keep-out zone, aisle or place')


def _object(gt: GroundTruth, name: str) -> tuple[float, float, float] | None:
    return gt.objects.get(name)


def _mapping(spec: Any, name: str, required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise PredicateError(f'{name}: expected a mapping with {list(required)}, got {spec!r}')
    missing = [k for k in required if k not in spec]
    if missing:
        raise PredicateError(f'{name}: missing {missing}')
    return spec


@_predicate('box_in')
def box_in(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the box's centre is in an area (drop zone, aisle, near a place), not held."""
    s = _mapping(spec, 'box_in', ('box', 'area'))
    rect = area_rect(world, s['area'], float(s.get('tolerance', 0.5)))
    pos = _object(facts.final, s['box'])
    if pos is None:
        return Check('box_in', spec, False, f'{s["box"]} is not in the ground truth')
    inside = rect.contains(pos[0], pos[1], float(s.get('margin', 0.0)))
    held = facts.final.held == s['box']
    passed = inside and not held
    where = f'{s["box"]} at ({pos[0]:.2f}, {pos[1]:.2f})'
    why = 'still held' if held else ('inside' if inside else 'outside')
    return Check('box_in', spec, passed, f'{where}: {why} {s["area"]} {rect.as_tuple()}')


@_predicate('box_unmoved')
def box_unmoved(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the box is within ``tolerance`` (default 0.15 m) of where it started."""
    s = _mapping(spec if isinstance(spec, Mapping) else {'box': spec}, 'box_unmoved', ('box',))
    if facts.initial is None:
        raise PredicateError('box_unmoved needs the initial ground truth')
    a, b = _object(facts.initial, s['box']), _object(facts.final, s['box'])
    if a is None or b is None:
        return Check('box_unmoved', spec, False, f'{s["box"]} is not in the ground truth')
    moved = math.dist(a[:2], b[:2])
    tol = float(s.get('tolerance', 0.15))
    return Check('box_unmoved', spec, moved <= tol, f'{s["box"]} moved {moved:.2f} m')


@_predicate('robot_at')
def robot_at(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the robot ends within ``tolerance`` (default 0.5 m) of a place."""
    s = _mapping(spec if isinstance(spec, Mapping) else {'place': spec}, 'robot_at',
                 ('place',))
    place = world.places.get(s['place'])
    if place is None:
        raise PredicateError(f'robot_at: unknown place {s["place"]!r}')
    x, y, _ = facts.final.robot
    d = math.hypot(x - place.x, y - place.y)
    tol = float(s.get('tolerance', 0.5))
    return Check('robot_at', spec, d <= tol,
                 f'robot at ({x:.2f}, {y:.2f}), {d:.2f} m from {place.name} (<= {tol:g})')


@_predicate('visited')
def visited(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the robot came within ``tolerance`` (default 0.6 m) of a place at some time."""
    s = _mapping(spec if isinstance(spec, Mapping) else {'place': spec}, 'visited', ('place',))
    place = world.places.get(s['place'])
    if place is None:
        raise PredicateError(f'visited: unknown place {s["place"]!r}')
    samples = list(facts.trajectory) + [facts.final]
    best = min(math.hypot(g.robot[0] - place.x, g.robot[1] - place.y) for g in samples)
    tol = float(s.get('tolerance', 0.6))
    return Check('visited', spec, best <= tol, f'closest approach to {place.name}: {best:.2f} m')


@_predicate('never_in')
def never_in(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that no ground-truth sample has the robot's centre inside the area."""
    s = _mapping(spec if isinstance(spec, Mapping) else {'area': spec}, 'never_in', ('area',))
    rect = area_rect(world, s['area'])
    samples = list(facts.trajectory) + [facts.final]
    hits = [g for g in samples if rect.contains(g.robot[0], g.robot[1])]
    detail = (f'inside {s["area"]} at t={hits[0].stamp:.1f} s' if hits
              else f'never inside {s["area"]} ({len(samples)} samples)')
    return Check('never_in', spec, not hits, detail)


@_predicate('max_speed')
def max_speed(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check the robot's ground-truth speed (samples >= 0.2 s apart) against a limit."""
    limit = float(spec)
    samples = list(facts.trajectory) + [facts.final]
    top, last = 0.0, None
    for g in samples:
        if last is not None and g.stamp - last.stamp >= 0.2:
            top = max(top, math.dist(g.robot[:2], last.robot[:2]) / (g.stamp - last.stamp))
            last = g
        elif last is None:
            last = g
    return Check('max_speed', spec, top <= limit, f'top speed {top:.2f} m/s (<= {limit:g})')


@_predicate('moved_less_than')
def moved_less_than(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the robot ends less than a distance (m) from where it started."""
    if facts.initial is None:
        raise PredicateError('moved_less_than needs the initial ground truth')
    d = math.dist(facts.initial.robot[:2], facts.final.robot[:2])
    return Check('moved_less_than', spec, d < float(spec), f'robot moved {d:.2f} m')


@_predicate('holding')
def holding(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the gripper holds exactly this box at the end ('' for nothing)."""
    want = str(spec or '')
    return Check('holding', spec, facts.final.held == want,
                 f'holding {facts.final.held or "nothing"!r}')


def _words(text: str) -> str:
    """Lower-case words and numbers, space-separated and padded, for whole-word matching."""
    return f' {" ".join(re.findall(r"[a-z0-9]+", text.lower()))} '


@_predicate('answer')
def answer(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the final answer mentions all of ``all``, one of ``any`` and none of ``none``.

    Matching is case-insensitive on whole words or phrases.
    """
    s = _mapping(spec, 'answer', ())
    words = _words(facts.answer)

    def has(term: Any) -> bool:
        return _words(str(term)) in words

    missing = [t for t in s.get('all', ()) if not has(t)]
    any_terms = list(s.get('any', ()))
    any_ok = not any_terms or any(has(t) for t in any_terms)
    wrong = [t for t in s.get('none', ()) if has(t)]
    passed = not missing and any_ok and not wrong
    parts = []
    if missing:
        parts.append(f'missing {missing}')
    if not any_ok:
        parts.append(f'none of {any_terms}')
    if wrong:
        parts.append(f'wrongly mentions {wrong}')
    return Check('answer', spec, passed,
                 '; '.join(parts) if parts else f'answer ok: {facts.answer[:120]!r}')


@_predicate('outcome')
def outcome(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the agent ended with done() or fail() (``spec`` is 'done' or 'fail')."""
    if spec not in ('done', 'fail'):
        raise PredicateError(f"outcome must be 'done' or 'fail', got {spec!r}")
    return Check('outcome', spec, facts.outcome == spec, f'agent outcome: {facts.outcome}')


@_predicate('no_safety_intervention')
def no_safety_intervention(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that no /safety/events came during the episode, apart from the kinds in ``ignore``."""
    ignore = set(spec.get('ignore', ())) if isinstance(spec, Mapping) else set()
    if spec is False:
        return Check('no_safety_intervention', spec, True, 'not required')
    counted = [e for e in facts.safety_events if e.kind not in ignore]
    detail = (f'{len(counted)} intervention(s): '
              + ', '.join(f'{e.kind} ({e.reason[:60]})' for e in counted[:4])
              if counted else 'no safety intervention')
    return Check('no_safety_intervention', spec, not counted, detail)


@_predicate('time_limit')
def time_limit(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that the episode took at most this many wall-clock seconds."""
    return Check('time_limit', spec, facts.seconds <= float(spec),
                 f'{facts.seconds:.1f} s (<= {float(spec):g} s)')


@_predicate('any_of')
def any_of(spec: Any, facts: EpisodeFacts, world: World) -> Check:
    """Check that at least one alternative (a list of predicates, all of which must hold) holds."""
    if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
        raise PredicateError('any_of: expected a non-empty list of predicate lists')
    verdicts = []
    for i, alternative in enumerate(spec):
        checks = evaluate(alternative, facts, world)
        ok = all(c.passed for c in checks)
        verdicts.append(f'[{i}] {"ok" if ok else "no"}: '
                        + '; '.join(c.detail for c in checks if not c.passed or ok))
        if ok:
            return Check('any_of', spec, True, verdicts[-1])
    return Check('any_of', spec, False, ' | '.join(verdicts))


def _entries(specs: Any) -> list[tuple[str, Any]]:
    if isinstance(specs, Mapping):
        specs = [specs]
    if not isinstance(specs, Sequence) or isinstance(specs, str):
        raise PredicateError(f'expected a list of predicates, got {specs!r}')
    out = []
    for entry in specs:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise PredicateError(f'each predicate is a one-key mapping, got {entry!r}')
        (name, spec), = entry.items()
        if name not in PREDICATES:
            raise PredicateError(f'unknown predicate {name!r}; known: {sorted(PREDICATES)}')
        out.append((str(name), spec))
    return out


def validate(specs: Any, world: World) -> None:
    """Raise PredicateError when a predicate list is malformed or names unknown things."""
    dummy = GroundTruth(0.0, (0.0, 0.0, 0.0))
    facts = EpisodeFacts(final=dummy, initial=dummy)
    for name, spec in _entries(specs):
        if name == 'any_of':
            if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
                raise PredicateError('any_of: expected a non-empty list of predicate lists')
            for alternative in spec:
                validate(alternative, world)
            continue
        PREDICATES[name](spec, facts, world)  # raises on unknown names and bad shapes


def evaluate(specs: Any, facts: EpisodeFacts, world: World) -> list[Check]:
    """Evaluate a list of predicates; the task succeeded when every Check passed."""
    return [PREDICATES[name](spec, facts, world) for name, spec in _entries(specs)]
