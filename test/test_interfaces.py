"""codeact_robot_interfaces: generated types import and an ExecuteCommand action round trip works
over real rclpy and DDS (goal, feedback, result, cancel)."""

import threading

import pytest
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot_interfaces.action import Drive, ExecuteCommand, Grasp, MoveTo
from codeact_robot_interfaces.msg import Detection, GripperState, GroundTruth, SafetyEvent
from codeact_robot_interfaces.srv import Perceive, PlanRoute, SetObstacle

# In the fast tier too (make test-fast): real nodes over DDS, a few seconds.
pytestmark = [pytest.mark.ros, pytest.mark.acceptance]
WAIT = 15.0


def test_every_interface_has_its_fields():
    assert ExecuteCommand.Goal().command == ''
    assert {'success', 'summary', 'turns_used', 'failure_reason'} <= set(
        ExecuteCommand.Result.get_fields_and_field_types())
    assert {'turn', 'phase', 'code', 'observation', 'pose'} <= set(
        ExecuteCommand.Feedback.get_fields_and_field_types())
    assert MoveTo.Result.BLOCKED == 1 and Drive.Result.DONE == 0 and Grasp.Result.HELD == 0
    assert Detection().marker_id == 0 and GripperState().holding is False
    assert GroundTruth().names == [] and SafetyEvent().kind == ''
    assert Perceive.Response().detections == [] and PlanRoute.Request().avoid == []
    assert SetObstacle.Request().present is False


class _SlowCommandServer(Node):
    """Sends feedback every 20 ms until canceled or 'quick' commands finish after one turn."""

    def __init__(self, context):
        super().__init__('execute_command_server', context=context)
        self._server = ActionServer(
            self, ExecuteCommand, 'execute_command', self._execute,
            goal_callback=lambda goal: (GoalResponse.REJECT if not goal.command
                                        else GoalResponse.ACCEPT),
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())

    def _execute(self, handle):
        quick = handle.request.command == 'quick'
        event = threading.Event()
        for turn in range(1, 500):
            if handle.is_cancel_requested:
                handle.canceled()
                return ExecuteCommand.Result(success=False, turns_used=turn - 1,
                                             failure_reason='canceled')
            feedback = ExecuteCommand.Feedback(turn=turn, phase='executing', code='print(1)')
            feedback.pose.x = 1.5
            handle.publish_feedback(feedback)
            if quick:
                break
            event.wait(0.02)
        handle.succeed()
        return ExecuteCommand.Result(success=True, summary=f'did {handle.request.command}',
                                     turns_used=1)


@pytest.fixture
def action_pair():
    with NodeRunner() as runner:
        runner.add(_SlowCommandServer(runner.context))
        client_node = runner.add(Node('execute_command_client', context=runner.context))
        client = ActionClient(client_node, ExecuteCommand, 'execute_command')
        assert client.wait_for_server(timeout_sec=WAIT)
        yield client


def _resolve(future, what):
    wait_for(future.done, WAIT, what)
    return future.result()


def test_one_outcome_vocabulary_from_controller_to_actions_to_api():
    # The controller's statuses, the MoveTo/Drive/PlanRoute result codes and the API's
    # MoveResult.status are one table (api.types.MOTION_STATUS_CODES); grasp codes likewise.
    from codeact_robot.api.types import MOTION_STATUS_CODES
    from codeact_robot.skills import motion
    from codeact_robot.skills.grasp import GraspStatus
    from codeact_robot_interfaces.srv import PlanRoute

    statuses = {getattr(motion, n) for n in ('ARRIVED', 'BLOCKED', 'TIMED_OUT', 'SAFETY_STOP',
                                              'CANCELED', 'INVALID', 'NO_PATH', 'REFUSED',
                                              'ESTOP')}
    assert statuses == set(MOTION_STATUS_CODES)
    for status, code in MOTION_STATUS_CODES.items():
        name = 'DONE' if (status == 'arrived') else status.upper()
        assert getattr(MoveTo.Result, status.upper()) == code
        assert getattr(Drive.Result, name) == code
    for name in ('INVALID', 'NO_PATH', 'REFUSED'):
        assert getattr(PlanRoute.Response, name) == MOTION_STATUS_CODES[name.lower()]
    assert {s.name: s.value for s in GraspStatus} == {
        n: getattr(Grasp.Result, n) for n in GraspStatus.__members__}


def test_goal_feedback_result(action_pair):
    feedback = []
    goal = _resolve(action_pair.send_goal_async(
        ExecuteCommand.Goal(command='quick'),
        feedback_callback=lambda msg: feedback.append(msg.feedback)), 'goal acceptance')
    assert goal.accepted
    result = _resolve(goal.get_result_async(), 'the result').result
    assert result.success and result.summary == 'did quick' and result.turns_used == 1
    assert feedback and feedback[0].turn == 1 and feedback[0].pose.x == 1.5


def test_cancel_stops_a_running_goal(action_pair):
    feedback = []
    goal = _resolve(action_pair.send_goal_async(
        ExecuteCommand.Goal(command='long'),
        feedback_callback=lambda msg: feedback.append(msg.feedback)), 'goal acceptance')
    wait_for(lambda: len(feedback) >= 2, WAIT, 'feedback before cancel')
    cancel = _resolve(goal.cancel_goal_async(), 'the cancel response')
    assert len(cancel.goals_canceling) == 1
    response = _resolve(goal.get_result_async(), 'the canceled result')
    assert response.result.failure_reason == 'canceled'
    assert response.status == 5  # action_msgs/GoalStatus.STATUS_CANCELED


def test_empty_command_is_rejected(action_pair):
    goal = _resolve(action_pair.send_goal_async(ExecuteCommand.Goal(command='')), 'the reply')
    assert not goal.accepted
