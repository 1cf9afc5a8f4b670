"""Success predicates over ground truth: hold on the right world state, fail on a wrong one."""

import pytest

from codeact_robot.eval.predicates import (
    EpisodeFacts,
    GroundTruth,
    PredicateError,
    SafetyIntervention,
    area_rect,
    evaluate,
    validate,
)
from codeact_robot.world import load_world


@pytest.fixture(scope='module')
def world():
    return load_world('warehouse')


def truth(robot=(1.2, 4.0, 0.0), stamp=10.0, held='', **objects):
    boxes = {'red box': (4.5, 3.1, 0.18), 'green box': (5.7, 1.0, 0.18)}
    boxes.update({k.replace('_', ' '): v for k, v in objects.items()})
    return GroundTruth(stamp, robot, boxes, held)


def passed(specs, facts, world):
    checks = evaluate(specs, facts, world)
    return all(c.passed for c in checks), checks


def test_box_in_drop_zone_passes_and_fails_when_world_is_wrong(world):
    spec = [{'box_in': {'box': 'red box', 'area': 'packing station'}}]
    ok, _ = passed(spec, EpisodeFacts(final=truth(red_box=(11.0, 4.0, 0.1))), world)
    assert ok
    # Still on its shelf: the same predicate must fail.
    ok, checks = passed(spec, EpisodeFacts(final=truth()), world)
    assert not ok
    assert 'outside' in checks[0].detail
    # In the zone but still held by the gripper: not delivered.
    ok, checks = passed(spec, EpisodeFacts(final=truth(red_box=(11.0, 4.0, 0.3),
                                                       held='red box')), world)
    assert not ok and 'held' in checks[0].detail


def test_box_in_unknown_box_fails_and_unknown_area_raises(world):
    ok, _ = passed([{'box_in': {'box': 'pink box', 'area': 'packing station'}}],
                   EpisodeFacts(final=truth()), world)
    assert not ok
    with pytest.raises(PredicateError):
        area_rect(world, 'the moon')


def test_robot_at_and_visited(world):
    dock = world.places['charging dock']
    at_dock = truth(robot=(dock.x + 0.2, dock.y, 3.1))
    assert passed([{'robot_at': {'place': 'charging dock'}}], EpisodeFacts(final=at_dock),
                  world)[0]
    assert not passed([{'robot_at': {'place': 'charging dock'}}], EpisodeFacts(final=truth()),
                      world)[0]
    ps = world.places['packing station']
    trip = [truth(robot=(1.2, 4.0, 0), stamp=0), truth(robot=(ps.x, ps.y, 0), stamp=20)]
    facts = EpisodeFacts(final=truth(stamp=40), trajectory=trip)
    assert passed([{'visited': 'packing station'}, {'robot_at': 'start'}], facts, world)[0]
    facts = EpisodeFacts(final=truth(stamp=40), trajectory=trip[:1])
    assert not passed([{'visited': 'packing station'}], facts, world)[0]


def test_never_in_keep_out_zone_checks_the_whole_trajectory(world):
    inside = truth(robot=(0.8, 0.5, 0.0), stamp=5.0)
    facts = EpisodeFacts(final=truth(stamp=9.0), trajectory=[truth(stamp=1.0), inside])
    ok, checks = passed([{'never_in': {'area': 'battery storage'}}], facts, world)
    assert not ok and 't=5.0' in checks[0].detail
    facts = EpisodeFacts(final=truth(stamp=9.0), trajectory=[truth(stamp=1.0)])
    assert passed([{'never_in': 'battery storage'}], facts, world)[0]


def test_max_speed_from_ground_truth(world):
    slow = [truth(robot=(1.0 + 0.1 * i, 4.0, 0.0), stamp=0.25 * i) for i in range(10)]
    fast = [truth(robot=(1.0 + 0.5 * i, 4.0, 0.0), stamp=0.25 * i) for i in range(10)]
    assert passed([{'max_speed': 0.65}], EpisodeFacts(final=slow[-1], trajectory=slow[:-1]),
                  world)[0]
    ok, checks = passed([{'max_speed': 0.65}],
                        EpisodeFacts(final=fast[-1], trajectory=fast[:-1]), world)
    assert not ok and '2.00 m/s' in checks[0].detail


def test_answer_matches_whole_words_and_rejects_wrong_facts(world):
    spec = [{'answer': {'all': ['green', 'orange'], 'none': ['red']}}]
    assert passed(spec, EpisodeFacts(final=truth(), answer='Green and ORANGE boxes.'), world)[0]
    assert not passed(spec, EpisodeFacts(final=truth(), answer='a green box'), world)[0]
    assert not passed(spec, EpisodeFacts(final=truth(), answer='green, orange and red'),
                      world)[0]
    # '4' must be a whole number in the answer, not part of '14'.
    assert passed([{'answer': {'all': ['4']}}],
                  EpisodeFacts(final=truth(), answer='marker 4.'), world)[0]
    assert not passed([{'answer': {'all': ['4']}}],
                      EpisodeFacts(final=truth(), answer='marker 14'), world)[0]


def test_outcome_safety_time_and_any_of(world):
    events = [SafetyIntervention('stop_request', 'stop'), SafetyIntervention('keep_out', 'no')]
    facts = EpisodeFacts(final=truth(), outcome='fail', safety_events=events, seconds=30)
    ok, checks = passed([{'no_safety_intervention': {'ignore': ['stop_request']}}], facts,
                        world)
    assert not ok and 'keep_out' in checks[0].detail
    assert passed([{'no_safety_intervention': {'ignore': ['stop_request', 'keep_out']}}],
                  facts, world)[0]
    assert passed([{'outcome': 'fail'}, {'time_limit': 60}], facts, world)[0]
    assert not passed([{'time_limit': 10}], facts, world)[0]
    alternatives = [{'any_of': [[{'outcome': 'done'}], [{'outcome': 'fail'}]]}]
    assert passed(alternatives, facts, world)[0]
    facts.outcome = 'none'
    assert not passed(alternatives, facts, world)[0]


def test_box_unmoved_and_moved_less_than_need_the_initial_state(world):
    start = truth(stamp=0.0)
    moved = truth(robot=(3.0, 4.0, 0.0), red_box=(6.0, 3.1, 0.18))
    facts = EpisodeFacts(final=moved, initial=start)
    assert not passed([{'box_unmoved': 'red box'}], facts, world)[0]
    assert passed([{'box_unmoved': 'green box'}], facts, world)[0]
    assert not passed([{'moved_less_than': 1.0}], facts, world)[0]
    with pytest.raises(PredicateError):
        evaluate([{'moved_less_than': 1.0}], EpisodeFacts(final=moved), world)


def test_holding(world):
    assert passed([{'holding': 'red box'}], EpisodeFacts(final=truth(held='red box')),
                  world)[0]
    assert not passed([{'holding': ''}], EpisodeFacts(final=truth(held='red box')), world)[0]


def test_validate_rejects_malformed_specs(world):
    validate([{'robot_at': 'shelf A'}, {'any_of': [[{'outcome': 'fail'}]]}], world)
    for bad in ([{'robot_at': 'shelf Z'}], [{'teleport': 1}], [{'a': 1, 'b': 2}],
                [{'outcome': 'maybe'}], [{'box_in': {'box': 'red box'}}], [{'any_of': []}]):
        with pytest.raises(PredicateError):
            validate(bad, world)


def test_ground_truth_round_trips_as_plain_data():
    g = truth(held='red box')
    assert GroundTruth.from_dict(g.to_dict()) == g
