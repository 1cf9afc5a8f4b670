"""The skills controller without ROS: goals, motion supervision and the safety layer.

A fake clock and a kinematic base (the commanded velocity integrated each cycle, a lidar that
sees only the obstacles a test puts down) drive the real controller, navigator and safety
layer on the real warehouse world. Time is simulated, so each test runs in well under a
second of wall time and no verdict depends on how fast the machine is. The node
(``nodes/skills_node.py``) is tested over DDS in test_skills_node.py.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from codeact_robot.safety.limits import SafetyLimits
from codeact_robot.safety.monitor import EStopLatch
from codeact_robot.skills import motion
from codeact_robot.skills.controller import (
    CLOCK_STOP_TIMEOUT,
    ESTOP_LATCHED,
    PLANNED,
    MotionSettings,
    SkillsController,
)
from codeact_robot.skills.grasp import GraspStatus
from codeact_robot.skills.navigator import Navigator
from codeact_robot.world import load_world

WORLD = load_world('warehouse')
PERIOD = 0.05
BEAMS = 360


class Ports:
    """The controller's ports, recorded: /cmd_vel, /safety/events, the gripper, the log."""

    def __init__(self) -> None:
        self.cmds: list[tuple[float, float]] = []
        self.events: list[tuple[str, str, str]] = []
        self.suction: list[bool] = []
        self.lines: list[tuple[str, str]] = []

    def publish_cmd(self, linear: float, angular: float) -> None:
        self.cmds.append((linear, angular))

    def emit_event(self, kind: str, reason: str, source: str) -> None:
        self.events.append((kind, reason, source))

    def set_suction(self, on: bool) -> bool:
        self.suction.append(on)
        return True

    def latest_rgbd(self) -> None:
        return None  # no camera here: perception has its own tests

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.events]


class Bench:
    """The controller on a kinematic base: each ``cycle`` is one control period of sim time."""

    def __init__(self, estop_state_file: str | None = None, **limits: float) -> None:
        self.t = 100.0
        self.ports = Ports()
        self.nav = Navigator(WORLD, scan_matching=False)
        self.ctl = SkillsController(self.nav, SafetyLimits(**limits), lambda: self.t,
                                    self.ports, MotionSettings(control_period=PERIOD),
                                    sim_time=True, estop_state_file=estop_state_file)
        self.odom = (0.0, 0.0, 0.0)  # odom frame: the world start pose is its origin
        self.twist = (0.0, 0.0)
        self.obstacles = np.zeros((0, 2))  # map points the lidar sees
        self.odom_on = self.scan_on = self.loop_on = True
        self.sense()

    def pose(self) -> tuple[float, float, float]:
        return self.nav.map_pose()

    def sense(self) -> None:
        if self.odom_on:
            self.ctl.update_odom(self.t, self.odom, self.twist)
        if self.scan_on:
            self.ctl.update_scan(self.t, self._ranges(), -math.pi, 2 * math.pi / BEAMS,
                                 0.05, 12.0)

    def _ranges(self) -> list[float]:
        ranges = np.full(BEAMS, math.inf)
        if len(self.obstacles):
            x, y, th = self.pose()
            lx, ly, lyaw = self.nav.lidar
            sx = x + lx * math.cos(th) - ly * math.sin(th)
            sy = y + lx * math.sin(th) + ly * math.cos(th)
            rel = self.obstacles - (sx, sy)
            dist = np.hypot(rel[:, 0], rel[:, 1])
            bearing = np.arctan2(rel[:, 1], rel[:, 0]) - th - lyaw
            beam = np.round((bearing + math.pi) / (2 * math.pi / BEAMS)).astype(int) % BEAMS
            np.minimum.at(ranges, beam, dist)
        return ranges.tolist()

    def cycle(self) -> None:
        """One period: the base moves by the last command, sensors report, the loop runs."""
        v, w = self.ports.cmds[-1] if self.ports.cmds else (0.0, 0.0)
        x, y, th = self.odom
        self.odom = (x + v * PERIOD * math.cos(th), y + v * PERIOD * math.sin(th),
                     th + w * PERIOD)
        self.twist = (v, w)
        self.t += PERIOD
        self.sense()
        if self.loop_on:
            self.ctl.tick()
        self.ctl.watch_once()

    def run(self, goal: Callable[[], Any], seconds: float = 120.0,
            during: Callable[[Bench], None] | None = None) -> Any:
        """Run ``goal`` (a blocking controller call) while cycling sim time until it returns.

        Sim time advances only while a motion is active, so planning and start-up checks of
        the goal thread cost no simulated time whatever the machine's speed.
        """
        box: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: box.setdefault('out', goal()), daemon=True)
        thread.start()
        end = self.t + seconds
        wall_end = time.monotonic() + 60.0
        while thread.is_alive() and self.t < end and time.monotonic() < wall_end:
            if self.ctl.active is None:
                thread.join(0.001)
                continue
            self.cycle()
            if during is not None:
                during(self)
        thread.join(10.0)
        assert 'out' in box, 'the goal did not end'
        return box['out']

    def speed(self) -> float:
        return abs(self.ports.cmds[-1][0]) if self.ports.cmds else 0.0


def wall_at(x: float, y0: float, y1: float) -> np.ndarray:
    """Map points of an obstacle face across an aisle."""
    ys = np.arange(y0, y1, 0.02)
    return np.column_stack([np.full(len(ys), x), ys])


def test_the_controller_imports_no_rclpy():
    code = ('import sys, codeact_robot.skills.controller as c; '
            'sys.exit(1 if "rclpy" in sys.modules else 0)')
    assert subprocess.run([sys.executable, '-c', code]).returncode == 0


def test_move_to_a_place_arrives_and_leaves_the_robot_stopped():
    b = Bench()
    goal = WORLD.places['aisle 2 west']
    out = b.run(lambda: b.ctl.move_to(goal.x, goal.y, goal.theta, 0.0, []))
    assert out.status == motion.ARRIVED, out
    x, y, th = b.pose()
    assert math.hypot(x - goal.x, y - goal.y) < 0.1 and abs(th - goal.theta) < 0.1
    assert max(v for v, _ in b.ports.cmds) <= b.ctl.limits.max_linear_speed + 1e-9
    for _ in range(12):
        b.cycle()
    assert b.ports.cmds[-1] == (0.0, 0.0) and b.ctl.active is None
    assert not [k for k in b.ports.kinds() if k != 'speed_limited']


@pytest.mark.parametrize('call, kind, words', [
    (lambda c: c.move_to(3.0, 4.0, None, 3.0, []), 'rejected_argument', 'the limit is'),
    (lambda c: c.move_to(math.nan, 4.0, None, 0.0, []), 'rejected_argument', 'x'),
    (lambda c: c.move_to(3.0, 4.0, None, 0.0, ['aisle 9']), 'rejected_argument', 'aisle 9'),
    (lambda c: c.drive(5.0, 0.0, 0.0), 'rejected_argument', 'distance'),
    (lambda c: c.drive(0.0, 9.0, 0.0), 'rejected_argument', 'angle'),
])
def test_bad_goals_are_refused_before_anything_moves(call, kind, words):
    b = Bench()
    out = call(b.ctl)
    assert out.status == motion.INVALID and words in out.message, out
    assert b.ports.kinds() == [kind] and b.ports.cmds == []


def test_goals_in_or_through_a_keep_out_zone_are_refused_with_a_geofence_event():
    b = Bench()
    zone = WORLD.keep_out[0].rect
    out = b.ctl.move_to((zone.xmin + zone.xmax) / 2, (zone.ymin + zone.ymax) / 2, None, 0.0, [])
    assert out.status == motion.REFUSED and 'keep-out' in out.message, out
    assert b.ports.kinds() == ['geofence'] and b.ports.cmds == []
    status, message, plan, _ = b.ctl.plan_route(50.0, 4.0, [])
    assert (status, plan) == (motion.NO_PATH, None) and 'outside the map' in message
    status, message, plan, _ = b.ctl.plan_route(3.0, 4.0, ['aisle 9'])
    assert (status, plan) == (motion.INVALID, None) and 'aisle 9' in message


def test_the_e_stop_ends_a_motion_latches_and_only_a_reset_releases_it():
    b = Bench()

    def press(bench: Bench) -> None:
        if bench.t > 102.0 and not bench.ctl.estop.active:
            bench.ctl.press_estop('operator')

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=press)
    assert out.status == motion.ESTOP and 'latched until a person resets it' in out.message
    assert b.ports.cmds[-1] == (0.0, 0.0) and 'estop' in b.ports.kinds()
    again = b.ctl.drive(0.5, 0.0, 0.0)
    assert (again.status, again.message) == (motion.ESTOP, ESTOP_LATCHED)
    grasp = b.ctl.grasp('red')
    assert (grasp.status, grasp.message) == (GraspStatus.ESTOP, ESTOP_LATCHED)
    assert not b.ports.suction
    assert b.ctl.reset_estop('operator') == (True, 'e-stop reset')
    assert b.ctl.reset_estop('operator') == (True, 'e-stop was not latched')
    assert b.run(lambda: b.ctl.drive(0.5, 0.0, 0.0)).status == motion.ARRIVED


def test_a_reset_while_the_e_stop_button_is_still_pressed_is_refused_and_logged():
    b = Bench()
    b.ctl.estop_input(True, 'button')
    done, message = b.ctl.reset_estop('operator')
    assert not done and 'still pressed' in message and b.ctl.estop.active
    assert any(level == 'warning' and 'reset refused' in text for level, text in b.ports.lines)
    b.ctl.estop_input(False, 'button')  # releasing alone restarts nothing
    assert b.ctl.estop.active
    assert b.ctl.reset_estop('operator') == (True, 'e-stop reset')
    assert ('info', 'e-stop reset by a person (operator)') in b.ports.lines


def test_a_latched_e_stop_survives_a_restart_through_its_state_file(tmp_path):
    state = tmp_path / 'estop_latched'
    Bench(estop_state_file=str(state)).ctl.press_estop('operator')
    assert state.exists()
    # The node restarts: a new controller reads the latch back and refuses to move.
    b = Bench(estop_state_file=str(state))
    assert b.ctl.estop.active and 'before a restart' in b.ctl.estop.reason
    assert b.ctl.drive(0.5, 0.0, 0.0).status == motion.ESTOP
    assert b.ctl.reset_estop('operator') == (True, 'e-stop reset') and not state.exists()
    assert not EStopLatch(state).active


def test_an_e_stop_pressed_during_a_control_step_keeps_its_command_off_the_base():
    # press_estop latches first and then waits for the lock a running step holds; the step's
    # command, computed before the press, must not be published after it.
    b = Bench()
    step = b.ctl.safety.step
    pressed_at: list[int] = []

    def step_then_press(cycle: Any) -> Any:
        out = step(cycle)
        if b.t > 102.0 and out.linear > 0.0 and not pressed_at:
            b.ctl.estop.trigger('e-stop (operator)')
            pressed_at.append(len(b.ports.cmds))  # the index this step's command gets
        return out

    b.ctl.safety.step = step_then_press  # type: ignore[method-assign]

    def finish_press(bench: Bench) -> None:
        if bench.ctl.estop.active and bench.ctl.active is not None:
            bench.ctl.press_estop('operator')

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=finish_press)
    assert out.status == motion.ESTOP and pressed_at
    assert b.ports.cmds[pressed_at[0] - 1][0] > 0.0  # it was moving up to the press
    assert all(c == (0.0, 0.0) for c in b.ports.cmds[pressed_at[0]:])


@pytest.mark.parametrize('sensor, kind, words', [('odom_on', 'stale_odom', 'odometry is stale'),
                                                 ('scan_on', 'stale_scan', 'laser scan is stale')])
def test_a_sensor_that_stops_stops_the_robot_within_the_limit(sensor, kind, words):
    b = Bench()
    lost: dict[str, float] = {}

    def drop(bench: Bench) -> None:
        if bench.t > 102.0 and not lost:
            setattr(bench, sensor, False)
            lost['at'] = bench.t

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=drop)
    assert out.status == motion.SAFETY_STOP and words in out.message, out
    lim = b.ctl.limits
    assert b.t - lost['at'] <= lim.stale_timeout + lim.stale_grace + 2 * PERIOD
    assert kind in b.ports.kinds() and b.ports.cmds[-1] == (0.0, 0.0)


def test_a_barely_late_sensor_only_holds_the_robot_and_the_motion_goes_on():
    b = Bench()
    gap: dict[str, float] = {}

    def late(bench: Bench) -> None:
        # odometry misses 0.6 s (past stale_timeout 0.5 s, within the grace of 0.3 s more)
        if bench.t > 102.0 and 'from' not in gap:
            gap['from'] = bench.t
            bench.odom_on = False
        elif 'from' in gap and bench.t - gap['from'] >= 0.6:
            bench.odom_on = True

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=late)
    assert out.status == motion.ARRIVED, out
    assert b.ctl.holds.get('stale_odom', 0) >= 1 and 'stale_odom' not in b.ports.kinds()


def test_a_late_control_loop_is_held_and_a_stuck_one_is_stopped_by_the_watchdog():
    b = Bench()
    stall: dict[str, float] = {}

    def hang(bench: Bench) -> None:
        if bench.t > 102.0 and 'from' not in stall:
            stall['from'] = bench.t
            bench.loop_on = False  # the control timer's thread hangs; the watchdog's runs
            bench.ports.cmds.append((0.3, 0.0))  # the last command the base had

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=hang)
    assert out.status == motion.SAFETY_STOP and 'stuck' in out.message, out
    lim = b.ctl.limits
    assert b.ctl.holds.get('command_timeout', 0) >= 1  # held (zero velocity) while only late
    assert b.t - stall['from'] <= lim.stall_timeout + 2 * PERIOD
    assert b.ports.kinds().count('command_timeout') == 1 and b.ports.cmds[-1] == (0.0, 0.0)


def test_a_failing_control_step_stops_the_robot_and_reports_it():
    b = Bench()

    def break_task(bench: Bench) -> None:
        if bench.t > 102.0 and bench.ctl.active is not None:
            bench.ctl.active.task.step = None  # type: ignore[assignment]

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=break_task)
    assert out.status == motion.SAFETY_STOP and 'internal controller error' in out.message
    assert 'internal_error' in b.ports.kinds() and b.ports.cmds[-1] == (0.0, 0.0)


def test_an_obstacle_in_an_aisle_ends_the_route_blocked_with_a_detour_hint_and_memory():
    b = Bench()
    b.obstacles = wall_at(5.5, 3.3, 4.7)  # a pallet across aisle 2
    east = WORLD.places['aisle 2 east']
    out = b.run(lambda: b.ctl.move_to(east.x, east.y, None, 0.0, []))
    assert out.status == motion.BLOCKED and out.blocked_aisle == 'aisle 2', out
    assert 'call move_to again with avoid=["aisle 2"]' in out.message, out.message
    assert b.pose()[0] < 5.5 - b.ctl.limits.min_obstacle_distance + 0.05  # stopped before it
    assert 'aisle 2' in b.nav.remembered_blocked(b.t)
    # The next goal goes round by itself and arrives.
    out = b.run(lambda: b.ctl.move_to(east.x, east.y, None, 0.0, []), seconds=200.0)
    assert out.status == motion.ARRIVED, out
    assert b.ports.cmds[-1] == (0.0, 0.0)


def test_a_second_goal_while_one_runs_is_refused_as_busy():
    b = Bench()
    seen: dict[str, Any] = {}

    def second(bench: Bench) -> None:
        if 'busy' not in seen:
            seen['busy'] = bench.ctl.run_goal('drive', lambda: 'ran', lambda m: m)
            seen['motion'] = bench.ctl.drive(0.5, 0.0, 0.0)

    out = b.run(lambda: b.ctl.run_goal('move_to', lambda: b.ctl.drive(1.0, 0.0, 0.0),
                                       lambda m: m), during=second)
    assert out.status == motion.ARRIVED
    assert seen['busy'] == 'busy with move_to; stop() first'
    assert seen['motion'].status == motion.INVALID and 'another motion' in seen['motion'].message
    assert b.ctl.run_goal('drive', lambda: 'ran', lambda m: m) == 'ran'


def test_a_stop_request_ends_the_motion_and_zero_velocity_follows():
    b = Bench()

    def stop(bench: Bench) -> None:
        if bench.t > 101.5 and bench.ctl.active is not None:
            bench.ctl.request_stop('user said stop', 'operator')

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=stop)
    assert out.status == motion.SAFETY_STOP and 'user said stop' in out.message
    assert b.ports.events[-1] == ('stop_request', 'user said stop', 'operator')
    for _ in range(3):
        b.cycle()
    assert b.ports.cmds[-3:] == [(0.0, 0.0)] * 3


def test_a_stop_requested_while_a_route_is_planned_keeps_the_robot_still():
    b = Bench()
    plan = b.ctl.plan

    def plan_then_stop(*args: Any) -> Any:
        result = plan(*args)
        b.ctl.request_stop('user said stop', 'operator')  # arrives while the goal plans
        return result

    b.ctl.plan = plan_then_stop
    goal = WORLD.places['aisle 2 west']
    out = b.run(lambda: b.ctl.move_to(goal.x, goal.y, goal.theta, 0.0, []))
    assert out.status == motion.SAFETY_STOP and 'while the motion was planned' in out.message
    assert all(cmd == (0.0, 0.0) for cmd in b.ports.cmds) and b.ctl.active is None
    b.ctl.plan = plan  # the next goal is not affected by the old stop
    assert b.run(lambda: b.ctl.drive(0.3, 0.0, 0.0)).status == motion.ARRIVED


def test_a_second_velocity_commander_stops_the_robot_and_blocks_motions_until_it_goes():
    b = Bench()

    def teleop_appears(bench: Bench) -> None:
        if bench.t > 101.0 and not bench.ctl.foreign_commanders:
            bench.ctl.set_foreign_commanders(['/teleop'])

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=teleop_appears)
    assert out.status == motion.SAFETY_STOP and '/teleop' in out.message
    assert 'foreign_cmd_vel' in b.ports.kinds() and b.ports.cmds[-1] == (0.0, 0.0)
    refused = b.ctl.drive(0.5, 0.0, 0.0)
    assert refused.status == motion.REFUSED and 'stop it first' in refused.message
    assert b.ctl.status()[0] == 'error' and '/teleop' in b.ctl.status()[1]
    b.ctl.set_foreign_commanders([])
    assert b.run(lambda: b.ctl.drive(0.5, 0.0, 0.0)).status == motion.ARRIVED


def test_a_simulated_clock_that_stops_during_a_motion_ends_it(monkeypatch):
    b = Bench()
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault('out', b.ctl.drive(2.0, 0.0, 0.0)),
                              daemon=True)
    thread.start()
    wait_until = time.monotonic() + 10.0
    while b.ctl.active is None and time.monotonic() < wait_until:
        time.sleep(0.001)
    for _ in range(10):
        b.cycle()
    assert b.speed() > 0.0
    # The simulator dies: no more cycles and no more simulated time; the watchdog thread alone
    # keeps running, and a while later (wall time) it finds the clock still.
    b.ctl.watch_once()
    assert b.ctl.active is not None, 'a clock still for a moment is a pause, not a stop'
    real = time.monotonic
    monkeypatch.setattr(time, 'monotonic', lambda: real() + CLOCK_STOP_TIMEOUT + 1.0)
    b.ctl.watch_once()
    thread.join(5.0)
    assert box['out'].status == motion.SAFETY_STOP and 'clock stopped' in box['out'].message
    assert 'clock_stopped' in b.ports.kinds() and b.ports.cmds[-1] == (0.0, 0.0)


def test_a_goal_whose_client_falls_silent_stops_and_the_rest_of_it_never_moves(monkeypatch):
    b = Bench()
    real = time.monotonic
    skew = [0.0]  # wall seconds added to the clock: the client's silence, without waiting
    monkeypatch.setattr(time, 'monotonic', lambda: real() + skew[0])
    first: list[Any] = []

    def goal() -> Any:  # two motions, as a grasp or a multi-leg move has
        first.append(b.ctl.drive(2.0, 0.0, 0.0))
        return b.ctl.drive(1.0, 0.0, 0.0)

    def client(bench: Bench) -> None:
        if bench.t < 101.0:
            bench.ctl.client_heartbeat('goal-7')  # the agent waits and says so
        elif not skew[0]:
            skew[0] = bench.ctl.settings.client_timeout + 0.5  # the agent was killed
        b.ctl.client_heartbeat('another goal')  # other tokens do not keep this one alive

    start = b.pose()
    out = b.run(lambda: b.ctl.run_goal('move_to', goal, client='goal-7'), during=client)
    assert first[0].status == motion.SAFETY_STOP and 'client' in first[0].message, first
    assert 'client_lost' in b.ports.kinds() and b.ports.cmds[-1] == (0.0, 0.0)
    assert out.status == motion.SAFETY_STOP and 'nothing moved' in out.message, out
    assert math.dist(start[:2], b.pose()[:2]) < 1.0  # stopped part way along the first 2 m


def test_a_goal_from_a_client_without_heartbeats_is_not_supervised(monkeypatch):
    # ros2 action send_goal sends none: silence is no reason to stop its goal.
    b = Bench()
    real = time.monotonic
    skew = [0.0]
    monkeypatch.setattr(time, 'monotonic', lambda: real() + skew[0])

    def silence(bench: Bench) -> None:
        if bench.t > 100.5:
            skew[0] = 3.0 * bench.ctl.settings.client_timeout

    out = b.run(lambda: b.ctl.run_goal('drive', lambda: b.ctl.drive(1.0, 0.0, 0.0),
                                       client='cli-goal'), during=silence)
    assert out.status == motion.ARRIVED and 'client_lost' not in b.ports.kinds(), out


def test_limits_may_be_tightened_at_run_time_but_not_loosened_past_the_configured_ones():
    b = Bench(max_linear_speed=0.5, min_obstacle_distance=0.3)
    with pytest.raises(ValueError, match='configured 0.5'):
        b.ctl.set_limits(max_linear_speed=0.8)
    with pytest.raises(ValueError, match='below the configured 0.3'):
        b.ctl.set_limits(min_obstacle_distance=0.2)
    assert b.ctl.limits.max_linear_speed == 0.5
    b.ctl.set_limits(max_linear_speed=0.3, min_obstacle_distance=0.5)
    assert (b.ctl.limits.max_linear_speed, b.ctl.safety.limits.min_obstacle_distance) == (
        0.3, 0.5)
    b.ctl.set_limits(max_linear_speed=0.5)  # back up to the ceiling is allowed
    assert b.ctl.limits.max_linear_speed == 0.5


def test_carrying_a_box_enlarges_the_body_the_safety_layer_and_planner_use():
    b = Bench()
    free = b.nav.body()
    b.ctl.holding = b.nav.holding = True
    carried = b.nav.body()
    assert carried.front > free.front + 0.1
    # The carry planner keeps the longer body off the shelves: the route still exists.
    east = WORLD.places['aisle 2 east']
    status, message, plan, _ = b.ctl.plan_route(east.x, east.y, [])
    assert status == PLANNED and plan.ok, message


def test_a_backward_clock_jump_does_not_make_old_odometry_fresh():
    b = Bench()
    lost: dict[str, float] = {}

    def drop_and_jump(bench: Bench) -> None:
        if bench.t > 102.0 and not lost:
            bench.odom_on = False
            lost['at'] = bench.t
        elif lost and 'jumped' not in lost and bench.t - lost['at'] > 0.2:
            lost['jumped'] = bench.t
            bench.t -= 30.0  # /clock set back during the dropout

    out = b.run(lambda: b.ctl.drive(2.0, 0.0, 0.0), during=drop_and_jump)
    assert out.status == motion.SAFETY_STOP and 'stale_odom' in b.ports.kinds(), out
    assert b.ctl.safe_clock.backward_jumps >= 1


class FakeNav2:
    """Test double for Nav2's NavigateToPose (the port the node implements over ROS): it
    drives straight at the goal, too fast on purpose, then turns to the goal heading."""

    def __init__(self, bench: Bench, speed: float = 1.0, available: bool = True,
                 give_up_at: float | None = None) -> None:
        self.bench = bench
        self.speed = speed
        self.available = available
        self.give_up_at = give_up_at  # sim time at which it aborts
        self.goals: list[tuple[float, float, float | None]] = []
        self.cancels = 0
        self.ended: tuple[str, str] | None = None

    def ready(self, timeout: float) -> bool:
        return self.available

    def start(self, x: float, y: float, theta: float | None) -> None:
        self.goals.append((x, y, theta))
        self.ended = None

    def _error(self) -> tuple[float, float]:
        x, y, th = self.bench.pose()
        gx, gy, gth = self.goals[-1]
        if math.dist((x, y), (gx, gy)) > 0.03:
            return math.dist((x, y), (gx, gy)), math.remainder(
                math.atan2(gy - y, gx - x) - th, 2 * math.pi)
        return 0.0, 0.0 if gth is None else math.remainder(gth - th, 2 * math.pi)

    def result(self) -> tuple[str, str] | None:
        if self.ended is None and self.goals:
            if self.give_up_at is not None and self.bench.t > self.give_up_at:
                self.ended = ('aborted', 'no valid path (controller failed)')
            else:
                distance, heading = self._error()
                if distance == 0.0 and abs(heading) < 0.02:
                    self.ended = ('succeeded', '')
        return self.ended

    def command(self) -> tuple[float, float, float] | None:
        distance, heading = self._error()
        v = self.speed if distance > 0 and abs(heading) < 0.3 else 0.0
        return self.bench.t, v, max(-1.0, min(1.0, 2.0 * heading))

    def cancel(self) -> None:
        self.cancels += 1
        self.ended = ('canceled', '')


def nav2_bench(**kwargs: Any) -> tuple[Bench, FakeNav2]:
    b = Bench()
    fake = FakeNav2(b, **kwargs)
    b.ctl.navigator = fake
    return b, fake


def test_a_delegated_goal_arrives_through_the_navigator_within_the_speed_limit():
    b, fake = nav2_bench()
    goal = WORLD.places['shelf B']
    out = b.run(lambda: b.ctl.move_to(goal.x, goal.y, goal.theta, 0.0, []))
    assert out.status == motion.ARRIVED, out
    assert fake.goals == [(goal.x, goal.y, goal.theta)] and fake.cancels == 0
    x, y, _ = b.pose()
    assert math.hypot(x - goal.x, y - goal.y) < 0.1
    # The navigator asked for 1 m/s; the safety layer passed no more than the limit.
    assert max(v for v, _ in b.ports.cmds) <= b.ctl.limits.max_linear_speed + 1e-9


def test_a_delegated_goal_into_a_keep_out_zone_is_refused_before_it_is_forwarded():
    b, fake = nav2_bench()
    zone = WORLD.keep_out[0].rect
    out = b.ctl.move_to((zone.xmin + zone.xmax) / 2, (zone.ymin + zone.ymax) / 2, None, 0.0, [])
    assert out.status == motion.REFUSED and 'keep-out' in out.message, out
    assert fake.goals == [] and b.ports.cmds == []


def test_an_estop_during_a_delegated_goal_stops_the_robot_and_cancels_the_navigator():
    b, fake = nav2_bench()
    goal = WORLD.places['packing station']

    def press(bench: Bench) -> None:
        if bench.t > 102.0 and not bench.ctl.estop.active:
            bench.ctl.press_estop('operator')

    out = b.run(lambda: b.ctl.move_to(goal.x, goal.y, None, 0.0, []), during=press)
    assert out.status == motion.ESTOP, out
    assert fake.cancels == 1 and b.ports.cmds[-1] == (0.0, 0.0)


def test_a_navigator_that_gives_up_or_is_missing_ends_the_goal_with_its_reason():
    b, fake = nav2_bench(give_up_at=102.0)
    goal = WORLD.places['packing station']
    out = b.run(lambda: b.ctl.move_to(goal.x, goal.y, None, 0.0, []))
    assert out.status == motion.NO_PATH and 'no valid path' in out.message, out
    assert fake.cancels == 0 and b.ports.cmds[-1] == (0.0, 0.0)
    b, fake = nav2_bench(available=False)
    out = b.ctl.move_to(goal.x, goal.y, None, 0.0, [])
    assert out.status == motion.REFUSED and 'NavigateToPose' in out.message
    assert fake.goals == [] and b.ports.cmds == []
