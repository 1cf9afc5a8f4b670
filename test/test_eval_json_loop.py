"""The JSON tool-calling baseline's episode loop on the robot double (no ROS, no model).

The loop itself is shared with CodeAct (codeact_robot.agent.episode); these tests pin what the
JSON mode does with it: one call per turn, results and errors as observations, done/fail as
tools, limits, cancel and infrastructure errors that stop the robot.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from robot_doubles import WarehouseRobotDouble

from codeact_robot.agent import AgentConfig, AgentEvent, read_transcript
from codeact_robot.agent.json_agent import JsonToolAgent
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.llm import ReplayBackend
from codeact_robot.world import load_world

WORLD = load_world()


def call(tool: str, **args: object) -> str:
    return json.dumps({'tool': tool, 'args': args})


def make_agent(tmp_path: Path, completions: list[str], robot: WarehouseRobotDouble,
               events: list[AgentEvent] | None = None, **config: object) -> JsonToolAgent:
    # Every API function and no worked examples: the loop is what these tests pin down.
    cfg = AgentConfig(**{'max_turns': 6, 'max_episode_seconds': 60, 'turn_timeout': 20,
                         'functions': RobotApi.LLM_FUNCTIONS, 'n_examples': 0, **config})
    return JsonToolAgent(llm=ReplayBackend(completions), robot=robot, world=WORLD, config=cfg,
                         runs_dir=tmp_path / 'runs',
                         on_event=events.append if events is not None else None)


def test_fetch_one_call_per_turn_and_done_ends_the_episode(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    events: list[AgentEvent] = []
    replies = [call('go_to', name='shelf B'), call('grasp', target='red'),
               call('go_to', name='packing station'), call('release'),
               call('done', summary='delivered the red box')]
    with make_agent(tmp_path, replies, robot, events) as agent:
        result = agent.run('bring the red box to the packing station')
    assert result.success and result.summary == 'delivered the red box'
    assert result.turns == 5 and not result.failure_reason
    assert [a for a, _ in robot.called('go_to')] == [('shelf B',), ('packing station',)]
    assert robot.held is None and robot.called('release')
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    # the robot's own account, as in CodeAct mode: one line per action, in its words
    assert [line.split(':')[0] for line in result.actions] == [
        "go_to(name='shelf B')", "grasp(target='red')", "go_to(name='packing station')",
        'release()']
    assert result.actions[1] == "grasp(target='red'): succeeded"
    assert 'arrived' in result.actions[2]
    assert events[-1].phase == 'finished' and events[0].phase == 'generating'
    records = read_transcript(result.transcript_path)
    assert records[0]['event'] == 'episode_start' and records[0]['mode'] == 'json'
    turns = [r for r in records if r['event'] == 'turn']
    assert turns[0]['tool'] == 'go_to' and '"status": "arrived"' in turns[0]['observation']
    assert 'at shelf B, holding a box' in turns[1]['observation']
    assert records[-1]['event'] == 'episode_end' and records[-1]['success']


def test_errors_and_bad_calls_go_back_to_the_model(tmp_path):
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    replies = ['I will go now.', call('grasp', target='red'), call('teleport', to='B'),
               call('move_to', x=4.5, y=3.95), call('go_to', name='shelf B', avoid=['aisle 2']),
               call('fail', reason='gave up')]
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('bring the red box to the packing station')
    assert not result.success and result.failure_reason == 'gave up' and result.turns == 6
    seen = [m['content'] for m in agent.llm.calls[-1] if m['role'] == 'user'][1:]
    assert 'No JSON tool call' in seen[0]
    assert 'NotFoundError' in seen[1]
    assert 'UnknownTool' in seen[2]
    assert '"blocked_aisle": "aisle 2"' in seen[3]
    assert '"status": "arrived"' in seen[4]


def test_turn_limit_ends_the_episode_without_done(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with make_agent(tmp_path, [call('get_pose')] * 3, robot, max_turns=2) as agent:
        result = agent.run('where are you?')
    assert not result.success and result.turns == 2
    assert 'turn limit (2)' in result.failure_reason and result.error is None


def test_cancel_during_a_call_stops_the_robot_and_ends_the_episode(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with make_agent(tmp_path, [call('wait', seconds=20), call('done', summary='x')],
                    robot) as agent:
        timer = threading.Timer(0.5, agent.cancel)
        timer.start()
        result = agent.run('wait a while')
        timer.join()
    assert not result.success and result.failure_reason == 'cancelled'
    assert 'episode cancelled' in robot.stops
    assert not robot.called('done')


def test_llm_failure_stops_the_robot_and_names_the_error(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with make_agent(tmp_path, [call('get_pose')], robot) as agent:  # the script runs out
        result = agent.run('where are you?')
    assert not result.success and result.error == 'ReplayExhaustedError'
    assert result.failure_reason.startswith('LLM error:')
    assert any(s.startswith('agent error:') for s in robot.stops)
