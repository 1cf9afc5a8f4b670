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
from codeact_robot.safety.monitor import EStopLatch, Footprint, clearance_ahead
from codeact_robot.safety.validation import check_names, check_number, check_text

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
