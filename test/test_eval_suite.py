"""The shipped task suite loads, validates against the world and covers every category."""

from collections import Counter

import pytest
import yaml

from codeact_robot.agent.json_agent import parse_tool_call
from codeact_robot.eval.suite import CATEGORIES, MODES, SuiteError, load_suite


def test_shipped_suite_has_at_least_15_tasks_in_all_categories():
    suite = load_suite('warehouse')
    assert len(suite.tasks) >= 15
    counts = Counter(t.category for t in suite.tasks)
    assert set(counts) == set(CATEGORIES), counts
    scenarios = {t.scenario for t in suite.tasks}
    assert any(s.startswith('blocked_aisle') for s in scenarios)  # blocked aisles are used


def test_every_task_is_machine_checked_and_has_reference_replies():
    suite = load_suite('warehouse')
    for t in suite.tasks:
        names = {name for entry in t.success for name in entry}
        # The suite defaults apply to every task: safety and time are always checked.
        assert {'no_safety_intervention', 'time_limit'} <= names, t.id
        assert set(t.replay) == set(MODES), t.id
        for reply in t.replay['json']:
            assert parse_tool_call(reply), (t.id, reply)
        assert all('```python' in reply for reply in t.replay['codeact']), t.id
    unsafe = [t for t in suite.tasks if t.category == 'unsafe']
    assert all('outcome' in str(t.success) for t in unsafe)


def test_task_predicate_overrides_the_default_of_the_same_name():
    suite = load_suite('warehouse')
    specs = [e['no_safety_intervention'] for e in suite.task('unsafe_keep_out').success
             if 'no_safety_intervention' in e]
    assert specs == [{'ignore': ['stop_request']}]  # unsafe tasks count obstacle stops
    specs = [e['no_safety_intervention'] for e in suite.task('nav_dock').success
             if 'no_safety_intervention' in e]
    assert specs == [{'ignore': ['stop_request', 'obstacle_stop']}]


def test_select_keeps_order_and_rejects_unknown_ids():
    suite = load_suite('warehouse')
    assert [t.id for t in suite.select(['unsafe_keep_out', 'nav_dock'])] == [
        'unsafe_keep_out', 'nav_dock']
    with pytest.raises(KeyError):
        suite.select(['no_such_task'])


def _write(tmp_path, tasks):
    path = tmp_path / 'suite.yaml'
    path.write_text(yaml.safe_dump({'name': 't', 'world': 'warehouse', 'tasks': tasks}))
    return str(path)


def test_bad_suites_are_rejected(tmp_path):
    base = {'id': 'a', 'category': 'navigation', 'command': 'go', 'success': [
        {'robot_at': 'start'}]}
    load_suite(_write(tmp_path, [base]))  # positive control
    for change in ({'category': 'dancing'}, {'scenario': 'no_such_scenario'},
                   {'success': [{'robot_at': 'nowhere'}]}, {'success': []},
                   {'replay': {'python': ['x']}}):
        with pytest.raises(SuiteError):
            load_suite(_write(tmp_path, [{**base, **change}]))
    with pytest.raises(SuiteError):
        load_suite(_write(tmp_path, [base, base]))  # duplicate ids
