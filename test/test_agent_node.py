"""agent_node over real rclpy/DDS (localhost): the ExecuteCommand action, cancel, the topic.

The robot is the WarehouseRobotDouble and the model the replay backend; the lead engineer's
end-to-end tests run the same node against the simulator and the skills node.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus
from rclpy.node import Node
from rclpy.parameter import Parameter
from robot_doubles import WarehouseRobotDouble
from std_msgs.msg import String

from codeact_robot.config import node_parameters
from codeact_robot.llm import ReplayBackend
from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.agent_node import (
    _PARAMS,
    ACTION_NAME,
    COMMAND_TOPIC,
    AgentNode,
    backend_settings,
)
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.action import ExecuteCommand

pytestmark = pytest.mark.ros

WORLD = load_world()
FETCH = [
    '```python\nr = go_to("shelf B")\nprint(r.status, grasp("red"))\n```',
    '```python\ngo_to("packing station")\nrelease()\ndone("delivered the red box")\n```',
]


class Client:
    """An action client node with bounded waits."""

    def __init__(self, runner: NodeRunner, server: Node) -> None:
        self.node = runner.add(Node('agent_test_client', context=runner.context))
        self.action = ActionClient(self.node, ExecuteCommand, ACTION_NAME)
        self.feedback: list[ExecuteCommand.Feedback] = []
        assert self.action.wait_for_server(timeout_sec=30.0)
        # Feedback is volatile: what the server publishes before it has discovered our
        # subscription is lost, and a replayed episode is over in a fraction of a second.
        # Discovery is not symmetric, so wait until each side sees the other.
        feedback_topic = ACTION_NAME + '/_action/feedback'
        wait_for(lambda: self.node.count_publishers(feedback_topic) > 0
                 and server.count_subscribers(feedback_topic) > 0, 30.0,
                 'the feedback topic to match on both sides')

    def send(self, command: str):
        future = self.action.send_goal_async(
            ExecuteCommand.Goal(command=command),
            feedback_callback=lambda msg: self.feedback.append(msg.feedback))
        return wait_for(future.done, 30.0, 'the goal response') and future.result()

    @staticmethod
    def result(handle, timeout: float = 120.0):
        future = handle.get_result_async()
        wait_for(future.done, timeout, 'the action result')
        return future.result()


def _node(runner: NodeRunner, robot: WarehouseRobotDouble, replies: list[str] | None,
          tmp_path, **params: object) -> AgentNode:
    overrides = [Parameter('runs_dir', value=str(tmp_path)), *(
        Parameter(k, value=v) for k, v in params.items())]
    llm = ReplayBackend(replies) if replies is not None else None
    return runner.add(AgentNode(context=runner.context, robot=robot, llm=llm, world=WORLD,
                                parameter_overrides=overrides))


def test_execute_command_action_with_feedback(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with NodeRunner() as runner:
        server = _node(runner, robot, FETCH, tmp_path, max_turns=4)
        client = Client(runner, server)
        handle = client.send('bring the red box to the packing station')
        assert handle.accepted
        response = client.result(handle)
        wait_for(lambda: client.feedback and client.feedback[-1].phase == 'finished', 30.0,
                 'the last feedback')
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    result = response.result
    assert result.success and result.summary == 'delivered the red box'
    assert result.turns_used == 2 and result.failure_reason == ''
    phases = [(f.turn, f.phase) for f in client.feedback]
    assert phases == [(1, 'generating'), (1, 'executing'), (1, 'observed'),
                      (2, 'generating'), (2, 'executing'), (2, 'observed'), (2, 'finished')]
    observed = client.feedback[2]
    assert 'go_to("shelf B")' in observed.code and 'holding a box' in observed.observation
    shelf = WORLD.places['shelf B']
    assert (observed.pose.x, observed.pose.y) == pytest.approx((shelf.x, shelf.y))
    assert list(tmp_path.glob('*.jsonl')), 'a transcript per episode'


def test_cancel_stops_code_and_robot_and_single_goal_policy(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with NodeRunner() as runner:
        server = _node(runner, robot, ['```python\nwait(30)\ngo_to("packing station")\n```'],
                       tmp_path)
        client = Client(runner, server)
        handle = client.send('wait, then deliver')
        wait_for(lambda: any(f.phase == 'executing' for f in client.feedback), 30.0,
                 'the code to start')
        second = client.send('another command')
        assert not second.accepted, 'one episode at a time'
        cancel = handle.cancel_goal_async()
        wait_for(cancel.done, 30.0, 'the cancel response')
        response = client.result(handle, timeout=60.0)
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.failure_reason == 'cancelled' and not response.result.success
    assert 'episode cancelled' in robot.stops
    assert not robot.called('go_to'), 'no motion after the cancel'


def test_command_topic_runs_an_episode(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    script = tmp_path / 'script.yaml'
    script.write_text('- |\n  go_to("charging dock")\n  done("docked")\n')
    with NodeRunner() as runner:
        # No injected backend: the node creates the replay backend from its parameters.
        node = _node(runner, robot, None, tmp_path, backend='replay', llm_script=str(script))
        pub_node = runner.add(Node('agent_test_pub', context=runner.context))
        pub = pub_node.create_publisher(String, COMMAND_TOPIC, 10)
        wait_for(lambda: pub.get_subscription_count() > 0, 30.0, 'the agent to subscribe')
        pub.publish(String(data='go to the charging dock'))
        wait_for(lambda: robot.called('go_to'), 60.0, 'the episode to drive')
        wait_for(lambda: not node._busy, 60.0, 'the episode to end')
    assert robot.called('go_to') == [(('charging dock',), {'avoid': None})]
    assert len(list(tmp_path.glob('*.jsonl'))) == 1


def test_parameters_are_declared_validated_and_match_the_config_file(tmp_path):
    config = node_parameters(Path(__file__).parents[1] / 'config' / 'agent.yaml', 'agent_node')
    assert config == {k: v[0] for k, v in _PARAMS.items()}
    name, settings = backend_settings(config)
    assert name == 'auto' and 'host' not in settings and settings['context_size'] == 8192
    with NodeRunner() as runner:
        node = _node(runner, WarehouseRobotDouble(WORLD), ['x'], tmp_path)
        described = node.describe_parameters(['max_turns', 'backend'])
        assert all(d.description for d in described)
        bad = node.set_parameters([Parameter('max_turns', value=0)])[0]
        assert not bad.successful and 'max_turns' in bad.reason
        bad = node.set_parameters([Parameter('backend', value='gpt')])[0]
        assert not bad.successful
        good = node.set_parameters([Parameter('max_turns', value=3)])[0]
        assert good.successful and node._ready_agent().config.max_turns == 3



def test_record_episodes_leaves_a_recording_of_the_turns_beside_the_transcript(tmp_path):
    from codeact_robot.nodes.agent_node import _recorder
    from codeact_robot.view.replay import RecordingError, read_episode

    robot = WarehouseRobotDouble(WORLD)
    with NodeRunner() as runner:
        node = _node(runner, robot, FETCH, tmp_path, max_turns=4, record_episodes=True)
        runner.add(_recorder(node, runner.context))
        client = Client(runner, node)
        response = client.result(client.send('bring the red box to the packing station'))
    assert response.result.success
    transcript = next(tmp_path.glob('*.jsonl'))
    recording = transcript.with_suffix('.mcap')
    assert recording.is_file(), sorted(p.name for p in tmp_path.iterdir())
    # The robot double publishes no pose, so the picture has no path; the turns are there.
    with pytest.raises(RecordingError, match='no robot pose'):
        read_episode(recording)
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    with recording.open('rb') as f:
        logs = [msg.msg for _, channel, _, msg in make_reader(
            f, decoder_factories=[DecoderFactory()]).iter_decoded_messages()
            if channel.topic == '/agent/log']
    assert any(text.startswith('turn 1: code') and 'go_to("shelf B")' in text
               for text in logs), logs
    assert any(text.startswith('turn 2: episode finished') for text in logs), logs
