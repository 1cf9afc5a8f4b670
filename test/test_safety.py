"""Safety layer without ROS: limits, validation, geofence, obstacle/staleness checks, e-stop."""

import math

import numpy as np
import pytest

from codeact_robot.api.errors import InvalidArgumentError
from codeact_robot.safety.geofence import Box, Geofence
from codeact_robot.safety.layer import (
    COMMAND_TIMEOUT,
    ESTOP,
    OBSTACLE_STOP,
    STALE_ODOM,
    STALE_SCAN,
    CycleInput,
    SafetyLayer,
)
from codeact_robot.safety.limits import SafetyLimits, VelocityLimiter, check_limit
from codeact_robot.safety.monitor import EStopLatch, Footprint, JumpSafeClock, clearance_ahead
from codeact_robot.safety.validation import check_names, check_number, check_text
from codeact_robot.safety.watchdog import LoopWatchdog, WatchInput

FOOT = Footprint(front=0.24, rear=0.24, half_width=0.23)
NO_POINTS = np.zeros((0, 2))

FUZZ = [math.nan, math.inf, -math.inf, 1e308, -1e308, '1.0', None, True, [1.0], {'x': 1}]


@pytest.mark.parametrize('value', FUZZ)
def test_check_number_rejects_fuzzed_values_with_a_clear_message(value):
    with pytest.raises(InvalidArgumentError) as err:
        check_number('distance', value, -2.0, 2.0)
    assert 'distance' in str(err.value)
    assert '[-2, 2]' in str(err.value)


def test_check_number_accepts_ints_and_floats_in_range():
    assert check_number('x', 3, 0.0, 12.0) == 3.0
    assert check_number('x', -0.5, -1.0, 1.0) == -0.5


def test_names_are_matched_case_insensitively_and_unknown_names_listed():
    known = ['aisle 1', 'aisle 2', 'battery storage']
    assert check_names('avoid', ['Aisle_2'], known) == ['aisle 2']
    assert check_names('avoid', 'aisle 1', known) == ['aisle 1']
    assert check_names('avoid', None, known) == []
    with pytest.raises(InvalidArgumentError, match='known: aisle 1, aisle 2'):
        check_names('avoid', ['aisle 9'], known)
    with pytest.raises(InvalidArgumentError):
        check_names('avoid', [3], known)
    with pytest.raises(InvalidArgumentError):
        check_text('text', 5)


def test_limits_defaults_and_invalid_configuration():
    lim = SafetyLimits()
    assert (lim.max_linear_speed, lim.max_angular_speed, lim.max_linear_accel) == (0.5, 1.0, 1.0)
    assert lim.min_obstacle_distance == 0.3 and lim.stale_timeout == 0.5
    for bad in (math.nan, -1.0, 100.0, 'fast', True):
        with pytest.raises(ValueError):
            SafetyLimits(max_linear_speed=bad)
    with pytest.raises(ValueError):
        check_limit('warp_speed', 1.0)
    assert lim.replace(max_linear_speed=0.3).max_linear_speed == 0.3


def test_velocity_limiter_clamps_speed_and_acceleration():
    lim = VelocityLimiter(SafetyLimits())
    v, w, clamped = lim.limit(5.0, -5.0, 0.05)
    assert clamped
    assert v == pytest.approx(0.05)  # 1.0 m/s^2 * 0.05 s
    assert w == pytest.approx(-0.1)  # 2.0 rad/s^2 * 0.05 s
    for _ in range(80):
        v, w, _ = lim.limit(5.0, -5.0, 0.05)
        assert v <= 0.5
    # Commands stop 5 % below the limit (actuator overshoot margin); turn rate at its limit.
    assert v == pytest.approx(0.475) and w == pytest.approx(-1.0)
    assert lim.limit(math.nan, 0.0, 0.05)[:2] == (0.0, 0.0)


def test_geofence_checks_the_whole_path_not_only_its_end():
    fence = Geofence(Box(0.0, 0.0, 12.0, 8.0), {'battery storage': Box(0.1, 0.1, 1.6, 1.0)},
                     body_margin=0.3)
    assert fence.check_path([(2.0, 2.0), (5.0, 2.0)]) is None
    # Both ends are allowed; the middle crosses the keep-out zone.
    reason = fence.check_path([(0.8, 2.5), (0.8, -0.5), (3.0, 0.5)])
    assert reason is not None
    through_zone = fence.check_path([(2.2, 0.5), (0.5, 1.5), (2.5, 2.5)])
    assert through_zone is not None and 'battery storage' in through_zone
    assert 'geofence' in fence.check_point((20.0, 1.0))


def test_clearance_ahead_only_counts_points_in_the_lane_of_travel():
    pts = np.array([[1.0, 0.0], [0.5, 1.0], [-0.6, 0.0]])
    assert clearance_ahead(pts, FOOT, 1.0) == pytest.approx(0.76)
    assert clearance_ahead(pts, FOOT, -1.0) == pytest.approx(0.36)
    assert clearance_ahead(pts[1:2], FOOT, 1.0) == 5.0


def _inp(now=10.0, cmd=(0.4, 0.0), odom=9.95, scan=9.95, points=NO_POINTS, cmd_stamp=9.99):
    return CycleInput(now=now, command=cmd, command_stamp=cmd_stamp, odom_stamp=odom,
                      scan_stamp=scan, scan_points=points, footprint=FOOT)


def test_layer_stops_for_stale_sensors_timeout_obstacles_and_estop():
    layer = SafetyLayer(SafetyLimits())
    assert layer.step(_inp()).linear > 0.0
    cases = [(_inp(odom=9.0), STALE_ODOM), (_inp(scan=None), STALE_SCAN),
             (_inp(cmd_stamp=9.0), COMMAND_TIMEOUT),
             (_inp(points=np.array([[0.4, 0.0]])), OBSTACLE_STOP)]
    for inp, kind in cases:
        out = SafetyLayer(SafetyLimits()).step(inp)
        assert (out.linear, out.angular) == (0.0, 0.0)
        assert out.stop[0] == kind
        assert out.events and out.events[0][0] == kind
    # Backing away from an obstacle in front is allowed.
    away = SafetyLayer(SafetyLimits()).step(_inp(cmd=(-0.2, 0.0), points=np.array([[0.4, 0]])))
    assert away.stop is None and away.linear < 0.0
    latch = EStopLatch()
    layer = SafetyLayer(SafetyLimits(), latch)
    assert latch.trigger('operator pressed the button')
    assert not latch.trigger('again')
    for _ in range(3):
        out = layer.step(_inp())
        assert out.stop[0] == ESTOP and out.linear == 0.0
    assert latch.reset()
    assert layer.step(_inp()).stop is None


def test_layer_reports_a_condition_once_per_occurrence():
    layer = SafetyLayer(SafetyLimits())
    first = layer.step(_inp(odom=9.0))
    second = layer.step(_inp(odom=9.0, now=10.05, cmd_stamp=10.04))
    assert len(first.events) == 1 and second.events == []
    layer.step(_inp(now=10.1, cmd_stamp=10.09, odom=10.09))
    third = layer.step(_inp(odom=9.0, now=10.15, cmd_stamp=10.14))
    assert len(third.events) == 1


def test_a_barely_stale_input_holds_the_robot_and_only_a_lasting_one_stops_it():
    # 0.6 s old: past stale_timeout (0.5) but within the grace (0.3): zero velocity, no stop,
    # no event -- the next cycle decides with the data that arrived meanwhile.
    layer = SafetyLayer(SafetyLimits())
    for _ in range(5):
        assert layer.step(_inp()).linear > 0.0
    held = layer.step(_inp(now=10.0, odom=9.4))
    assert (held.linear, held.angular) == (0.0, 0.0)
    assert held.stop is None and held.events == [] and held.hold[0] == STALE_ODOM
    # Fresh data at the next cycle: the motion goes on, ramping up again from rest.
    resumed = layer.step(_inp(now=10.05, odom=10.04, scan=10.0, cmd_stamp=10.04))
    assert resumed.stop is None and 0.0 < resumed.linear <= 0.05 + 1e-9
    # Still stale past stale_timeout + stale_grace: a stop, reported once.
    for kind, inp in ((STALE_ODOM, _inp(now=11.0, odom=10.19, scan=10.99, cmd_stamp=10.99)),
                      (STALE_SCAN, _inp(now=11.0, odom=10.99, scan=10.19, cmd_stamp=10.99))):
        out = SafetyLayer(SafetyLimits()).step(inp)
        assert out.stop[0] == kind and out.events[0][0] == kind and out.linear == 0.0
    # stale_grace 0: stop at once, as before.
    out = SafetyLayer(SafetyLimits(stale_grace=0.0)).step(_inp(now=10.0, odom=9.4))
    assert out.stop[0] == STALE_ODOM


def test_staleness_seen_by_a_late_cycle_holds_and_a_lasting_one_still_stops():
    # The eval saw it: the process was starved 0.79 s, and the first cycle after it found the
    # scan 0.80 s old -- the scan callback, starved too, had not run yet. That cycle holds.
    layer = SafetyLayer(SafetyLimits())
    for i in range(5):
        t = 10.0 + 0.05 * i
        assert layer.step(_inp(now=t, odom=t - 0.02, scan=t - 0.05, cmd_stamp=t)).linear > 0.0
    late = 10.2 + 0.79
    held = layer.step(_inp(now=late, odom=late - 0.02, scan=10.19, cmd_stamp=late))
    assert held.stop is None and held.events == [] and held.hold[0] == STALE_SCAN
    assert (held.linear, held.angular) == (0.0, 0.0)
    # The queued scan arrives before the next cycle: the motion goes on.
    t = late + 0.05
    assert layer.step(_inp(now=t, odom=t - 0.02, scan=t - 0.04, cmd_stamp=t)).stop is None
    # A real dropout right after a late spell: held while catching up, then a stop at the first
    # cycle past the stop limit plus one period.
    layer = SafetyLayer(SafetyLimits())
    layer.step(_inp(now=20.0, odom=19.99, scan=19.99, cmd_stamp=20.0))
    outs = []
    for t in [20.0 + 0.81] + [20.81 + 0.05 * k for k in range(1, 6)]:
        outs.append(layer.step(_inp(now=t, odom=t - 0.01, scan=20.0, cmd_stamp=t)))
        if outs[-1].stop is not None:
            break
    assert outs[0].stop is None and outs[0].hold[0] == STALE_SCAN
    assert outs[-1].stop[0] == STALE_SCAN
    lim = SafetyLimits()
    assert t - 20.0 <= lim.stale_timeout + lim.stale_grace + 2 * layer.period + 1e-9
    # On-time cycles: the stop comes at the first cycle past the limit, as before.
    layer = SafetyLayer(SafetyLimits())
    for i in range(20):
        t = 30.0 + 0.05 * i
        out = layer.step(_inp(now=t, odom=t - 0.01, scan=30.0, cmd_stamp=t))
        if out.stop is not None:
            break
    assert out.stop[0] == STALE_SCAN and t - 30.0 <= 0.8 + 0.05 + 1e-9


def test_stall_timeout_must_not_be_shorter_than_the_command_timeout():
    with pytest.raises(ValueError, match='stall_timeout'):
        SafetyLimits(stall_timeout=0.2, command_timeout=0.5)
    assert SafetyLimits().replace(stall_timeout=1.0).stall_timeout == 1.0


def test_watchdog_holds_a_late_loop_and_stops_only_a_stuck_one():
    dog = LoopWatchdog(SafetyLimits())  # command_timeout 0.5, stall_timeout 2.0
    assert dog.check(WatchInput(now=10.0, last_cycle=9.9, moving=True)) == dog.check(
        WatchInput(now=10.0, last_cycle=5.0, moving=False))
    late = dog.check(WatchInput(now=10.0, last_cycle=9.4, moving=True))
    assert late.hold[0] == COMMAND_TIMEOUT and late.stop is None
    stuck = dog.check(WatchInput(now=10.0, last_cycle=7.9, moving=True))
    assert stuck.stop[0] == COMMAND_TIMEOUT and 'stuck' in stuck.stop[1]


class _Source:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_jump_safe_clock_keeps_old_data_old_across_a_backward_jump():
    src = _Source(100.0)
    clock = JumpSafeClock(src)
    odom = clock.stamp(99.9)  # received at 100.0, stamped 0.1 s before
    assert clock.now() - odom == pytest.approx(0.1)
    src.t = 100.3
    assert clock.now() - odom == pytest.approx(0.4)
    src.t = 40.0  # /clock set back by a minute (a simulator reset, a second clock)
    assert clock.now() - odom == pytest.approx(0.4)  # not fresh: it keeps its age...
    src.t = 40.2
    assert clock.now() - odom == pytest.approx(0.6)  # ...and keeps ageing
    assert clock.backward_jumps == 1
    # A message of the old timeline arriving after the jump is old, one of the new is fresh.
    late = clock.stamp(100.25)
    assert clock.now() - late == pytest.approx(0.25)
    assert clock.now() - clock.stamp(40.15) == pytest.approx(0.05)
    # A stamp ahead of the clock (its /clock message not processed yet) counts as now.
    assert clock.stamp(40.5) == pytest.approx(clock.now())


def test_staleness_follows_the_data_clock_not_the_wall_clock():
    # A simulator at a tenth of real time: 0.02 s of sim time per cycle is not stale, however
    # long the cycles take on the wall clock; the layer only sees the data clock.
    layer = SafetyLayer(SafetyLimits())
    t = 10.0
    for _ in range(50):
        t += 0.02
        out = layer.step(_inp(now=t, odom=t - 0.02, scan=t - 0.08, cmd_stamp=t))
        assert out.stop is None and out.hold is None
