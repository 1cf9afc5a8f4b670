"""The suite runs headless: two tasks, replay backend, both modes, real simulator and skills.

Everything is real (embedded MuJoCo simulator, skills node, RosRobotApi over DDS, the watchdog
executor, ground truth over /sim/ground_truth) except the model: the replay backend plays each
task's reference replies from sim/tasks/warehouse.yaml.
"""

import json
from dataclasses import replace

import pytest

from codeact_robot.agent.loop import AgentConfig
from codeact_robot.eval.cli import main as bench_agent
from codeact_robot.eval.report import load_records, write_report
from codeact_robot.eval.runner import EvalRunner, EvalSettings, episode_dir
from codeact_robot.eval.suite import load_suite

TASKS = ['nav_dock', 'unsafe_keep_out']
# Three times real time: the skills and the predicates run on the simulator's clock.
SETTINGS = EvalSettings(agent=AgentConfig(max_turns=4, max_episode_seconds=120.0),
                        ready_timeout=60.0, real_time_factor=3.0)


@pytest.mark.slow
def test_two_tasks_both_modes_predicates_table_and_resume(tmp_path):
    suite = load_suite('warehouse')
    tasks = suite.select(TASKS)
    with EvalRunner(suite, tmp_path, SETTINGS) as runner:
        records = runner.run(tasks, ['codeact', 'json'], ['replay'], [0])
    assert len(records) == 4, [r['task'] for r in records]
    for r in records:
        assert r['success'], (r['task'], r['mode'], r['checks'], r['failure_reason'])
        assert all(c['passed'] for c in r['checks'])
        assert (tmp_path / r['transcript']).is_file()  # every episode keeps its transcript
    by = {(r['task'], r['mode']): r for r in records}
    # Ground truth, not the agent's word: the robot really is at the dock ...
    dock = by[('nav_dock', 'codeact')]
    assert next(c for c in dock['checks'] if c['name'] == 'robot_at')['passed']
    assert dock['trajectory'] and dock['final']['robot'][1] > 6.0
    # ... and the refusal left the robot where it started, outside the keep-out zone.
    refusal = by[('unsafe_keep_out', 'json')]
    assert refusal['outcome'] == 'fail' and refusal['turns'] == 1
    assert by[('nav_dock', 'json')]['turns'] == 3 and dock['turns'] == 1

    paths = write_report(tmp_path, command='test')
    table = json.loads(paths['json'].read_text())
    rows = {r['mode']: r for r in table['rows']}
    assert set(rows) == {'codeact', 'json'}
    assert rows['codeact']['success_pct'] == 100.0 and rows['json']['success_pct'] == 100.0
    assert rows['codeact']['mean_turns'] == 1.0 and rows['json']['mean_turns'] == 2.0
    assert rows['codeact']['safety_interventions'] == 0
    assert rows['codeact']['safety_events_by_kind'] == {}
    assert all('cpu_busy_pct' in r['machine_load'] for r in records)
    assert rows['json']['mean_prompt_tokens'] > 0
    md = paths['md'].read_text()
    assert '| replay | reference script | codeact | 2 | 100 | 1 |' in md
    assert '| nav_dock | navigation | 1/1 | 1/1 |' in md
    assert paths['png'].stat().st_size > 1000

    # Resume: nothing is run again, the records are the same.
    result = episode_dir(tmp_path, 'replay', 'json', 0, 'nav_dock') / 'result.json'
    before = result.stat().st_mtime_ns
    logs = []
    with EvalRunner(suite, tmp_path, SETTINGS, log=logs.append) as runner:
        again = runner.run(tasks, ['codeact', 'json'], ['replay'], [0], resume=True)
    assert result.stat().st_mtime_ns == before
    assert all('kept (resume)' in line for line in logs) and len(logs) == 4
    assert sorted(r['task'] + r['mode'] for r in again) == sorted(
        r['task'] + r['mode'] for r in records)


@pytest.mark.slow
def test_predicate_fails_when_the_world_state_is_wrong(tmp_path):
    """The agent claims success, but ground truth says the robot is not at the dock."""
    suite = load_suite('warehouse')
    wrong = replace(suite.task('nav_dock'), replay={
        'json': ('{"tool": "turn", "args": {"angle": 0.3}}',
                 '{"tool": "done", "args": {"summary": "I am at the charging dock"}}')})
    with EvalRunner(suite, tmp_path, SETTINGS) as runner:
        record = runner.run_episode(wrong, 'json', 'replay', 0)
    assert record is not None
    assert record['agent_success'] and record['outcome'] == 'done'
    assert not record['success']
    failed = [c for c in record['checks'] if not c['passed']]
    assert [c['name'] for c in failed] == ['robot_at']
    assert 'from charging dock' in failed[0]['detail']
    assert load_records(tmp_path)[0]['success'] is False


def test_cli_lists_tasks_and_rejects_unknown_ones(capsys):
    assert bench_agent(['--list']) == 0
    out = capsys.readouterr().out
    assert 'nav_dock' in out and 'unsafe_keep_out' in out
    assert bench_agent(['--tasks', 'no_such_task', '--backend', 'replay']) == 2


def test_cli_report_only_rebuilds_the_table_from_results(tmp_path):
    """Records written by an earlier run (here: by hand, as plain data) become the table."""
    where = episode_dir(tmp_path, 'replay', 'codeact', 0, 'nav_dock')
    where.mkdir(parents=True)
    record = {'task': 'nav_dock', 'category': 'navigation', 'mode': 'codeact',
              'backend': 'replay', 'model': 'm', 'seed': 0, 'success': False,
              'outcome': 'none', 'turns': 4, 'seconds': 10.0, 'safety_interventions': 1,
              'prompt_tokens': 100, 'completion_tokens': 10, 'failure_reason': 'turn limit',
              'checks': [{'name': 'robot_at', 'passed': False, 'detail': 'far away'}],
              'safety_events': [{'kind': 'stale_scan', 'reason': 'laser scan is stale',
                                 'source': 'skills'}],
              'machine_load': {'cores': 2, 'cpu_busy_pct': 97.5},
              'transcript': None}
    (where / 'result.json').write_text(json.dumps(record))
    assert bench_agent(['--report-only', '--out', str(tmp_path)]) == 0
    table = json.loads((tmp_path / 'table.json').read_text())
    assert table['rows'][0]['success_pct'] == 0.0
    assert table['rows'][0]['safety_interventions'] == 1
    # Safety events by kind tell a false stop (a stale sensor on a busy machine) from a real one.
    assert table['rows'][0]['safety_events_by_kind'] == {'stale_scan': 1}
    assert table['rows'][0]['mean_cpu_busy_pct'] == 97.5
    md = (tmp_path / 'table.md').read_text()
    assert 'robot_at: far away' in md
    assert '| 1 | stale_scan 1 | 97.5 |' in md


def test_load_sampler_records_the_machine_load_of_an_episode():
    import time

    from codeact_robot.eval.load import LoadSampler

    with LoadSampler(period=0.05) as load:
        end = time.monotonic() + 0.3
        while time.monotonic() < end:  # some CPU work of our own
            sum(i * i for i in range(1000))
    summary = load.summary()
    assert summary['cores'] >= 1
    assert summary['loadavg_1min_max'] >= summary['loadavg_1min_mean'] >= 0.0
    assert 0.0 < summary['cpu_busy_pct'] <= 100.0


def test_cross_talk_from_another_graph_is_detected():
    """Two /odom publishers (e.g. a second simulator on the same ROS_DOMAIN_ID) spoil a run."""
    from nav_msgs.msg import Odometry
    from rclpy.node import Node

    from codeact_robot.eval.runner import CrossTalkError, check_isolated
    from codeact_robot.nodes.runner import NodeRunner, wait_for

    with NodeRunner() as runner:
        watcher = runner.add(Node('watcher', context=runner.context))
        first = runner.add(Node('sim_a', context=runner.context))
        first.create_publisher(Odometry, '/odom', 10)
        wait_for(lambda: watcher.count_publishers('/odom') == 1, 10.0, 'one /odom publisher')
        check_isolated(watcher)  # positive control: one publisher is fine
        second = runner.add(Node('sim_b', context=runner.context))
        second.create_publisher(Odometry, '/odom', 10)
        wait_for(lambda: watcher.count_publishers('/odom') == 2, 10.0, 'two /odom publishers')
        with pytest.raises(CrossTalkError, match='/odom'):
            check_isolated(watcher)


@pytest.mark.slow
def test_record_leaves_each_episode_s_recording_beside_its_transcript(tmp_path):
    from codeact_robot.view.replay import read_episode

    suite = load_suite('warehouse')
    with EvalRunner(suite, tmp_path, replace(SETTINGS, record=True)) as runner:
        record = runner.run_episode(suite.task('nav_dock'), 'codeact', 'replay', 0)
    assert record is not None and record['success']
    transcript = tmp_path / record['transcript']
    track = read_episode(transcript.with_suffix('.mcap'))
    assert [turn for _, turn in track.turns] == [1]
    (x0, y0), (x1, y1) = track.path[0], track.path[-1]
    assert abs(x1 - x0) + abs(y1 - y0) > 1.0  # the drive to the dock is in it
