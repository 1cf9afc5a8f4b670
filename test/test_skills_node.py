"""The skills node against the real embedded simulator: real rclpy over DDS, real MuJoCo.

One simulator stack per module (starting one takes about a second). An observer node records
every /cmd_vel message, the ground-truth speed, /safety/events and /diagnostics, so tests can
assert what was (never) published. The speed limit is checked against ground truth at teardown.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist
from rclpy.parameter import Parameter
from ros_observer import SPEED_LIMIT, Observer
from std_msgs.msg import Bool

from codeact_robot.api.errors import EStopActiveError, InvalidArgumentError, SafetyStopError
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import wait_for
from codeact_robot_interfaces.action import Drive, MoveTo

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module')
def stack():
    s = start_embedded(scenario='default', real_time_factor=1.0,
                       sim_params={'enable_camera': False})
    obs = Observer(s)
    s.extra['observer'] = obs
    yield s
    s.close()
    print(f'max ground-truth speed in test_skills_node: {obs.max_speed:.3f} m/s')
    assert obs.max_speed <= SPEED_LIMIT * 1.05


@pytest.fixture
def obs(stack) -> Observer:
    return stack.extra['observer']


def _in_background(fn, *args):
    box: dict[str, object] = {}

    def run():
        try:
            box['result'] = fn(*args)
        except Exception as e:  # handed to the test thread, which re-raises or asserts on it
            box['error'] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


FUZZ = [math.nan, math.inf, -math.inf, 1e308, -1e308, '0.5', None, [1.0], True]


def test_fuzzed_api_arguments_are_rejected_and_no_velocity_is_published(stack, obs):
    api = stack.api
    wait_for(lambda: not obs.cmds_since(time.monotonic() - 0.3), 5.0, 'the robot at rest')
    t0 = time.monotonic()
    calls = []
    for bad in FUZZ:
        calls += [lambda b=bad: api.move(b), lambda b=bad: api.turn(b),
                  lambda b=bad: api.move_to(b, 4.0), lambda b=bad: api.move_to(3.0, b),
                  lambda b=bad: api.move(0.5, speed=b) if b is not None else api.move('x'),
                  lambda b=bad: api.wait(b), lambda b=bad: api.plan_route(b, 1.0)]
    calls += [lambda: api.wait(-1.0), lambda: api.go_to(3), lambda: api.move_to(2.0, 4.0,
                                                                             avoid=['aisle 9']),
              lambda: api.move_to(2.0, 4.0, speed=5.0), lambda: api.move(50.0),
              lambda: api.turn(100.0), lambda: api.say(12)]
    for call in calls:
        with pytest.raises(InvalidArgumentError) as err:
            call()
        assert len(str(err.value)) > 10
    assert all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(t0))


def test_fuzzed_raw_goals_are_rejected_by_the_skills_node_itself(stack, obs):
    # Bypass the facade: the skills node is the one place that enforces limits.
    t0 = time.monotonic()
    n_events = len(obs.events)
    goals = [(obs.drive, Drive.Goal(distance=math.nan)),
             (obs.drive, Drive.Goal(distance=1e308)),
             (obs.drive, Drive.Goal(distance=0.5, speed=-1.0)),
             (obs.drive, Drive.Goal(distance=0.5, speed=3.0)),
             (obs.drive, Drive.Goal(angle=math.inf)),
             (obs.move_to, MoveTo.Goal(x=math.nan, y=1.0)),
             (obs.move_to, MoveTo.Goal(x=2.0, y=-math.inf)),
             (obs.move_to, MoveTo.Goal(x=2.0, y=4.0, speed=0.9)),
             (obs.move_to, MoveTo.Goal(x=2.0, y=4.0, theta=math.nan, use_theta=True)),
             (obs.move_to, MoveTo.Goal(x=2.0, y=4.0, avoid=['aisle 7']))]
    for client, goal in goals:
        result = obs.send_raw(client, goal)
        assert result.status == type(result).INVALID, result.message
        assert result.message
    assert all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(t0))
    kinds = [e.kind for e in obs.events_since(n_events)]
    assert kinds.count('rejected_argument') == len(goals)


def test_routes_leaving_the_geofence_or_entering_keep_out_are_refused(stack, obs):
    api = stack.api
    t0 = time.monotonic()
    with pytest.raises(SafetyStopError, match='geofence'):
        api.move_to(20.0, 4.0)
    with pytest.raises(SafetyStopError, match='battery storage'):
        api.move_to(0.8, 0.5)
    # Backing up 2 m from x = 1.2 would leave the warehouse through the west wall.
    with pytest.raises(SafetyStopError, match='geofence'):
        api.move(-2.0)
    assert all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(t0))
    route = api.plan_route(1.2, 0.5)
    assert not route.ok


@pytest.mark.acceptance
def test_short_drive_turn_and_planned_route_arrive(stack, obs):
    api = stack.api
    x0, y0, th0 = obs.robot()
    result = api.move(0.4)
    assert result.arrived, result.message
    x1, y1, _ = obs.robot()
    assert math.dist((x0, y0), (x1, y1)) == pytest.approx(0.4, abs=0.05)
    assert api.turn(math.pi / 2).arrived
    assert math.remainder(obs.robot()[2] - th0 - math.pi / 2, 2 * math.pi) == pytest.approx(
        0.0, abs=0.06)
    route = api.plan_route(2.5, 4.0)
    assert route.ok and route.length > 0.5
    result = api.move_to(2.5, 4.0, theta=0.0)
    assert result.arrived, result.message
    x, y, th = obs.robot()
    assert math.dist((x, y), (2.5, 4.0)) < 0.15
    assert abs(math.remainder(th, 2 * math.pi)) < 0.1
    pose = api.get_pose()
    assert math.dist((pose.x, pose.y), (x, y)) < 0.1  # odometry-based map pose tracks truth


def test_driving_at_the_speed_limit_stays_within_it_by_ground_truth(stack, obs):
    api = stack.api
    assert api.move_to(2.5, 4.0, theta=0.0).arrived
    before = obs.max_speed
    assert api.move(1.8, speed=SPEED_LIMIT).arrived
    assert api.move(-1.8, speed=SPEED_LIMIT).arrived
    print(f'max true speed at the limit: {obs.max_speed:.3f} m/s (before {before:.3f})')
    assert obs.max_speed > 0.8 * SPEED_LIMIT  # it really drove near the limit
    assert obs.max_speed <= SPEED_LIMIT * 1.05


def test_stop_request_zeroes_velocity_and_ends_the_goal(stack, obs):
    api = stack.api
    thread, box = _in_background(api.move_to, 2.5, 6.1)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    n_events = len(obs.events)
    t_stop = time.monotonic()
    api.emergency_stop('test: watchdog stop')
    thread.join(10.0)
    assert not thread.is_alive()
    result = box['result']
    assert result.status in ('safety_stop', 'canceled'), result
    after = obs.cmds_since(t_stop)
    # A command published just before the request can still arrive after it (receipt times
    # are all the observer has); from the first zero on, the robot is never driven again.
    first_zero = next((i for i, (_, v, w) in enumerate(after) if v == 0.0 and w == 0.0), None)
    assert first_zero is not None, 'a zero command must follow the stop request'
    assert all(v == 0.0 and w == 0.0 for _, v, w in after[first_zero:])
    assert after[first_zero][0] - t_stop < 1.0, 'the zero command came late'
    wait_for(lambda: any(e.kind == 'stop_request' for e in obs.events_since(n_events)), 5.0,
             'the stop_request safety event')


def test_estop_latches_until_a_person_resets_it(stack, obs):
    api = stack.api
    n_events = len(obs.events)
    obs.estop_pub.publish(Bool(data=True))
    wait_for(lambda: any(e.kind == 'estop' for e in obs.events_since(n_events)), 5.0,
             'the estop event')
    t0 = time.monotonic()
    with pytest.raises(EStopActiveError):
        api.move(0.3)
    # Releasing the button does not restart anything. The node ignores the release, so
    # wait until it has published two more diagnostics after it, still latched.
    n_diag = len(obs.diagnostics)
    obs.estop_pub.publish(Bool(data=False))
    def skills_status_after_release() -> list[DiagnosticStatus]:
        return [s for d in obs.diagnostics[n_diag + 1:] for s in d.status if 'skills' in s.name]

    wait_for(lambda: skills_status_after_release(), 10.0, 'a diagnostic after the release')
    assert all(s.level == DiagnosticStatus.ERROR for s in skills_status_after_release())
    with pytest.raises(EStopActiveError):
        api.turn(0.5)
    assert all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(t0))
    wait_for(lambda: any(s.level == DiagnosticStatus.ERROR
                         for d in obs.diagnostics[-3:] for s in d.status), 5.0,
             'an ERROR diagnostic while latched')
    assert obs.reset_estop().success
    assert api.turn(0.3).arrived


def test_a_reset_while_the_button_is_still_pressed_is_refused(stack, obs):
    obs.estop_pub.publish(Bool(data=True))
    wait_for(lambda: stack.skills.controller.estop_pressed, 5.0, 'the press to arrive')
    refused = obs.reset_estop()
    assert not refused.success and 'still pressed' in refused.message
    with pytest.raises(EStopActiveError):
        stack.api.turn(0.3)
    obs.release_and_reset_estop()
    assert stack.api.turn(0.3).arrived


def test_a_second_cmd_vel_publisher_stops_the_robot_until_it_goes(stack, obs):
    api = stack.api
    n_events = len(obs.events)
    # A teleop-like second commander: the observer node itself publishes on /cmd_vel.
    teleop = obs.node.create_publisher(Twist, '/cmd_vel', 10)
    try:
        wait_for(lambda: any(e.kind == 'foreign_cmd_vel' for e in obs.events_since(n_events)),
                 10.0, 'the foreign_cmd_vel safety event')
        with pytest.raises(SafetyStopError, match='test_observer'):
            api.move(0.3)
        wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and 'test_observer' in s.message
                             for d in obs.diagnostics[-2:] for s in d.status), 5.0,
                 'an ERROR diagnostic naming the other publisher')
    finally:
        obs.node.destroy_publisher(teleop)
    wait_for(lambda: not stack.skills.controller.foreign_commanders, 10.0,
             'the other publisher to be gone')
    assert api.move(0.3).arrived


@pytest.mark.acceptance
def test_estop_during_motion_stops_the_robot(stack, obs):
    api = stack.api
    thread, box = _in_background(api.move_to, 2.5, 1.9)
    wait_for(lambda: any(abs(v) > 0.05 or abs(w) > 0.05
                         for _, v, w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    t0 = time.monotonic()
    obs.estop_pub.publish(Bool(data=True))
    try:
        thread.join(10.0)
        assert isinstance(box.get('error'), EStopActiveError), box
        assert obs.cmds_since(t0) and all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(
            t0 + 0.2))
    finally:
        obs.release_and_reset_estop()


@pytest.mark.acceptance
def test_stale_odometry_stops_the_robot(stack, obs):
    api = stack.api
    sim = stack.sim
    n_events = len(obs.events)
    thread, box = _in_background(api.move, 1.5)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    # The simulator publishes odometry once per second from now on: 1 s > 0.5 s stale limit.
    sim.set_parameters([Parameter('odom_rate', value=1.0)])
    try:
        thread.join(20.0)
        assert not thread.is_alive()
        result = box['result']
        assert result.status == 'safety_stop' and 'stale' in result.message, result
        kinds = [e.kind for e in obs.events_since(n_events)]
        assert 'stale_odom' in kinds
    finally:
        sim.set_parameters([Parameter('odom_rate', value=50.0)])
    t0 = time.monotonic()
    obs.wait_at_rest()  # at least 0.5 s of simulated time without motion
    assert all(v == 0.0 and w == 0.0 for _, v, w in obs.cmds_since(t0))


def test_safety_limit_parameters_are_validated(stack):
    skills = stack.skills
    bad = skills.set_parameters([Parameter('max_linear_speed', value=5.0)])
    assert not bad[0].successful
    bad = skills.set_parameters([Parameter('min_obstacle_distance', value=-1.0)])
    assert not bad[0].successful
    # In range, but looser than the parameter file the node started with (0.5 m/s): another
    # participant of the graph may tighten the limits, never raise them.
    bad = skills.set_parameters([Parameter('max_linear_speed', value=0.8)])
    assert not bad[0].successful and 'configured 0.5' in bad[0].reason
    assert skills.get_parameter('max_linear_speed').value == 0.5
    ok = skills.set_parameters([Parameter('max_linear_speed', value=0.4)])
    assert ok[0].successful
    try:
        with pytest.raises(InvalidArgumentError, match='0.4'):
            stack.api.move(0.3, speed=0.45)
    finally:
        skills.set_parameters([Parameter('max_linear_speed', value=0.5)])
    descriptor = skills.describe_parameter('max_linear_speed')
    assert descriptor.description and descriptor.floating_point_range[0].to_value == 2.0


def test_diagnostics_are_published(stack, obs):
    wait_for(lambda: len(obs.diagnostics) >= 2, 5.0, 'two diagnostics messages')
    status = obs.diagnostics[-1].status[0]
    keys = {kv.key for kv in status.values}
    assert {'estop', 'max_linear_speed', 'skill'} <= keys


def _stall_control_loop_once(skills, seconds: float) -> dict:
    """Make the next control cycle take ``seconds`` of the node's data clock (a starved or hung
    step); the returned dict gets the watchdog's hold counts seen while the cycle was stuck.

    The watchdog judges the loop on the data clock (sim time here): a stall measured in wall
    time would be shorter in sim time whenever load slows the simulator down."""
    original = skills.controller.control_step
    seen: dict = {}

    def slow_step() -> None:
        skills.controller.control_step = original
        clock = skills.controller.safe_clock
        end, deadline = clock.now() + seconds, time.monotonic() + 20.0 * seconds
        while clock.now() < end and time.monotonic() < deadline:
            time.sleep(0.01)
        seen['holds'] = dict(skills.controller.holds)
        original()
    skills.controller.control_step = slow_step
    return seen


def test_a_late_control_loop_holds_the_robot_and_only_a_stuck_one_stops_it(stack, obs):
    api, skills = stack.api, stack.skills
    n_events = len(obs.events)
    assert api.move_to(2.5, 4.0, theta=0.0).arrived
    # Late: one cycle takes 1 s (> command_timeout 0.5 s, < stall_timeout 2 s). The watchdog
    # thread holds the robot at zero velocity meanwhile; the motion then goes on and arrives.
    thread, box = _in_background(api.move, 1.0)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    holds = skills.controller.holds.get('command_timeout', 0)
    t0 = time.monotonic()
    stalled = _stall_control_loop_once(skills, 1.0)
    wait_for(lambda: 'holds' in stalled, 30.0, 'the stalled cycle to end')
    # The watchdog publishes zero velocity before it counts a hold: a hold counted while the
    # cycle was stuck means the robot was held then, not only after the loop came back.
    assert stalled['holds'].get('command_timeout', 0) > holds, 'the watchdog did not hold'
    wait_for(lambda: [c for c in obs.cmds_since(t0) if c[1] == 0.0 and c[2] == 0.0], 5.0,
             'the zero velocity command at /cmd_vel')
    thread.join(30.0)
    assert box['result'].arrived, box
    assert 'command_timeout' not in [e.kind for e in obs.events_since(n_events)]
    # Stuck: a cycle that takes 3 s (> stall_timeout) ends the motion with a safety stop.
    thread, box = _in_background(api.move, -1.0)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    stuck = _stall_control_loop_once(skills, 3.0)
    thread.join(30.0)
    result = box['result']
    assert result.status == 'safety_stop' and 'stuck' in result.message, result
    wait_for(lambda: 'holds' in stuck, 30.0, 'the stuck cycle to end')  # before the next test
    wait_for(lambda: 'command_timeout' in [e.kind for e in obs.events_since(n_events)], 5.0,
             'the command_timeout event')


def _starve(skills, sub, seconds: float) -> None:
    """Keep the executor from reading ``sub`` for ``seconds`` of the node's data clock, while
    its publisher goes on: what a starved executor does to a sensor callback under CPU load.

    The executor leaves an entity marked as having work in flight out of its wait set, so the
    messages wait in the middleware. The mark is set again every 10 ms, as a handler already
    in flight clears it once."""
    clock = skills.controller.safe_clock
    end, deadline = clock.now() + seconds, time.monotonic() + 20.0 * seconds
    try:
        while clock.now() < end and time.monotonic() < deadline:
            sub._executor_event = True
            time.sleep(0.01)
    finally:
        sub._executor_event = False


def test_a_starved_sensor_callback_is_no_stale_sensor_but_a_silent_sensor_is(stack, obs):
    api, skills = stack.api, stack.skills
    n_events = len(obs.events)
    assert api.move_to(2.5, 4.0, theta=0.0).arrived
    limits = skills.controller.limits
    caught_up = skills.caught_up['scan']
    # The executor does not read /scan for longer than the stop limit (0.8 s) while the lidar
    # keeps publishing: the control loop reads the waiting scan itself and drives on.
    thread, box = _in_background(api.move, 1.0)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    _starve(skills, skills._scan_sub, 2.0 * (limits.stale_timeout + limits.stale_grace))
    thread.join(30.0)
    assert box['result'].arrived, box
    assert skills.caught_up['scan'] > caught_up, 'the control loop did not read the scan'
    assert 'stale_scan' not in [e.kind for e in obs.events_since(n_events)]
    # A lidar that stops publishing still stops the robot: nothing waits to be read.
    thread, box = _in_background(api.move, -1.0)
    wait_for(lambda: any(abs(v) > 0.05 for _, v, _w in obs.cmds_since(time.monotonic() - 0.2)),
             30.0, 'the robot moving')
    stack.sim.set_parameters([Parameter('scan_rate', value=1.0)])
    try:
        thread.join(30.0)
        result = box['result']
        assert result.status == 'safety_stop' and 'scan is stale' in result.message, result
    finally:
        stack.sim.set_parameters([Parameter('scan_rate', value=10.0)])
