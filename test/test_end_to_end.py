"""End to end over real rclpy and the embedded simulator: the CodeAct loop with scripted
completions (the replay backend stands in for the model so the runs are deterministic), the real
watchdog executor, the real skills node and safety layer, and ground truth checked by the test."""

from __future__ import annotations

import math

import pytest
from ros_observer import SPEED_LIMIT, Observer

from codeact_robot.agent import AgentConfig, CodeActAgent
from codeact_robot.agent.transcript import read_transcript
from codeact_robot.llm.replay import ReplayBackend
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world

pytestmark = [pytest.mark.ros, pytest.mark.slow]
WORLD = load_world('warehouse')


def fence(code: str) -> str:
    return f'I will do this step.\n```python\n{code.strip()}\n```\n'


# Drives whose checks are all on the simulator's clock or on ground truth run faster than real
# time (the skills node runs on the simulator's clock); the tests whose subject is a wall-clock
# timeout or a cancel keep real time.
FAST = {'real_time_factor': 2.0}
FAST_NO_CAMERA = {'real_time_factor': 3.0, 'sim_params': {'enable_camera': False}}


@pytest.fixture
def robot_stack(request):
    options = {'scenario': 'default', 'real_time_factor': 1.0, **getattr(request, 'param', {})}
    stack = start_embedded(**options)
    observer = Observer(stack)
    yield stack, observer
    stack.close()
    assert observer.max_speed <= SPEED_LIMIT * 1.05


def run_agent(stack, completions, tmp_path, **config):
    llm = ReplayBackend(completions)
    agent = CodeActAgent(llm=llm, robot=stack.api, world=WORLD,
                         config=AgentConfig(**{'max_turns': len(completions), **config}),
                         runs_dir=tmp_path)
    try:
        return agent.run('test command'), llm
    finally:
        agent.close()


def story(result) -> str:
    """What the model was told after each turn: the failure message when an episode fails."""
    turns = [e for e in read_transcript(result.transcript_path) if e['event'] == 'turn']
    return '\n'.join(f"turn {i + 1}: {e.get('observation')}" for i, e in enumerate(turns))


def in_drop_zone(observer, box: str) -> bool:
    zone = next(s.drop_zone for s in WORLD.stations if s.name == 'packing station')
    x, y = observer.object_xy(box)
    return zone.contains(x, y, margin=0.15)


@pytest.mark.parametrize('robot_stack', [FAST], indirect=True, ids=['2x'])
def test_fetch_and_deliver_the_red_box(robot_stack, tmp_path):
    stack, observer = robot_stack
    result, _ = run_agent(stack, [
        fence("r = go_to('shelf B')\nprint(r.status)"),
        fence("seen = perceive()\nprint([d.label for d in seen])\ngrasp('red')\n"
              "print('holding', holding())"),
        fence("r = go_to('packing station')\nprint(r.status)\nrelease()\n"
              "done('the red box is at the packing station')"),
    ], tmp_path)
    assert result.success, f'{result.failure_reason}\n{story(result)}'
    assert result.turns == 3
    wait_for(lambda: observer.truth.held == '', 5.0, 'the box to be released')
    observer.wait_at_rest('red box')
    assert in_drop_zone(observer, 'red box'), observer.object_xy('red box')
    events = [e['event'] for e in read_transcript(result.transcript_path)]
    assert 'completion' in events or 'turn' in events


@pytest.mark.parametrize('robot_stack', [{'scenario': 'blocked_aisle_2', **FAST_NO_CAMERA}],
                         indirect=True, ids=['blocked_aisle_2-3x'])
def test_go_to_goes_round_the_aisle_that_gets_blocked(robot_stack, tmp_path):
    stack, observer = robot_stack
    result, llm = run_agent(stack, [
        fence("r = go_to('packing station')\nprint(r.status, r.message)"),
        # variables persist between turns: the result of turn 1 is read again
        fence("done('went round the blocked aisle') if r.arrived else fail(r.message)"),
    ], tmp_path)
    assert result.success, f'{result.failure_reason}\n{story(result)}'
    turn2_prompt = llm.calls[1][-1]['content']
    assert 'arrived at packing station (found aisle 2 blocked and went round)' in turn2_prompt, \
        turn2_prompt
    x, y, _ = observer.robot()
    place = WORLD.places['packing station']
    assert math.dist((x, y), (place.x, place.y)) < 0.15


def test_bug_in_turn_one_is_fixed_in_turn_two_after_the_traceback(robot_stack, tmp_path):
    stack, _ = robot_stack
    result, llm = run_agent(stack, [
        fence("pose = get_pose()\nprint(pose.X)"),
        fence("pose = get_pose()\nprint(round(pose.x, 1))\ndone(f'at x={pose.x:.1f}')"),
    ], tmp_path)
    assert result.success and result.turns == 2
    observation = llm.calls[1][-1]['content']
    assert 'AttributeError' in observation and 'pose.X' in observation, observation
    assert 'site-packages' not in observation  # the traceback is trimmed to the model's lines


def test_infinite_loop_is_killed_the_robot_stopped_and_the_model_told(robot_stack, tmp_path):
    stack, observer = robot_stack
    result, llm = run_agent(stack, [
        fence('while True:\n    pass'),
        fence("done('stopped')"),
    ], tmp_path, turn_timeout=3.0)
    assert result.success
    told = llm.calls[1][-1]['content'].lower()
    assert 'timeout' in told or 'timed out' in told, told
    assert any(e.kind == 'stop_request' for e in observer.events), observer.events
    assert observer.cmds and observer.cmds[-1][1:] == (0.0, 0.0)


def test_a_timeout_mid_motion_stops_the_robot(robot_stack, tmp_path):
    stack, observer = robot_stack
    result, llm = run_agent(stack, [
        fence("go_to('packing station')"),
        fence("fail('the motion was stopped')"),
    ], tmp_path, turn_timeout=4.0)
    assert not result.success
    observer.wait_at_rest(timeout=5.0)  # the stopped robot comes to rest and stays there
    x1, y1, _ = observer.robot()
    place = WORLD.places['packing station']
    assert math.dist((x1, y1), (place.x, place.y)) > 3.0, 'the motion was not interrupted'


def test_cancel_through_the_action_stops_the_code_and_the_robot(robot_stack, tmp_path):
    from rclpy.parameter import Parameter

    from codeact_robot.nodes.action_client import ActionClient
    from codeact_robot.nodes.agent_node import AgentNode
    from codeact_robot_interfaces.action import ExecuteCommand

    stack, observer = robot_stack
    llm = ReplayBackend([fence("go_to('packing station')"), fence("done('never reached')")])
    node = stack.runner.add(AgentNode(
        robot=stack.api, llm=llm, world=WORLD, context=stack.runner.context,
        parameter_overrides=[Parameter('runs_dir', value=str(tmp_path))]))
    client = ActionClient(observer.node, ExecuteCommand, '/agent/execute_command')
    assert client.wait_for_server(timeout_sec=30.0)
    feedback = []
    sent = client.send_goal_async(ExecuteCommand.Goal(command='go to the packing station'),
                                  feedback_callback=lambda m: feedback.append(m.feedback))
    wait_for(sent.done, 30.0, 'goal acceptance')
    handle = sent.result()
    assert handle.accepted
    wait_for(lambda: any(f.phase == 'executing' for f in feedback), 60.0, 'executing feedback')
    wait_for(lambda: math.dist(observer.robot()[:2], (1.2, 4.0)) > 0.3, 30.0, 'the robot moving')
    cancel = handle.cancel_goal_async()
    wait_for(cancel.done, 30.0, 'the cancel response')
    result = handle.get_result_async()
    wait_for(result.done, 30.0, 'the canceled result')
    assert not result.result().result.success
    assert 'cancel' in result.result().result.failure_reason
    observer.wait_at_rest(timeout=5.0)  # the stop is immediate: the base comes to rest
    x1, y1, _ = observer.robot()
    place = WORLD.places['packing station']
    assert math.dist((x1, y1), (place.x, place.y)) > 3.0
    assert node.get_name() == 'agent_node'  # the runner destroys it with the stack
