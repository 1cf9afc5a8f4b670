"""The navigator without ROS: pose at a stamp, scans in the map, blocked aisles, route policy.

Runs on the real warehouse world; the inputs are what odometry and laser-scan messages carry.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from codeact_robot.skills.navigator import Navigator, to_map
from codeact_robot.world import load_world

WORLD = load_world('warehouse')
EAST = (10.55, 4.0)  # the packing station's place, east of the shelf rows


def navigator(**kwargs) -> Navigator:
    return Navigator(WORLD, scan_matching=False, **kwargs)


def at(nav: Navigator, x: float, y: float, theta: float = 0.0, stamp: float = 0.0) -> None:
    """Put the robot at map pose (x, y, theta) through an odometry message."""
    ix, iy, ith = nav.initial
    c, s = math.cos(-ith), math.sin(-ith)
    odom = (c * (x - ix) - s * (y - iy), s * (x - ix) + c * (y - iy), theta - ith)
    nav.update_odom(stamp, odom, (0.0, 0.0))


def wall_across(nav: Navigator, x: float, y0: float, y1: float, now: float = 0.0) -> None:
    """Let the lidar see a wall of returns at map x from y0 to y1 (robot pose as given)."""
    pose = nav.map_pose()
    pts_map = np.column_stack([np.full(40, x), np.linspace(y0, y1, 40)])
    c, s = math.cos(pose[2]), math.sin(pose[2])
    rel = pts_map - np.array(pose[:2])
    base = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]])
    nav.add_scan(0.0, base, now)


def test_the_core_runs_without_rclpy():
    code = ('import sys, codeact_robot.skills.navigator; '
            'sys.exit(any(m == "rclpy" or m.startswith("rclpy.") for m in sys.modules))')
    assert subprocess.run([sys.executable, '-c', code], timeout=60).returncode == 0


def test_pose_at_a_stamp_is_interpolated_and_a_newer_one_extrapolated():
    nav = navigator()
    assert nav.odom_at(1.0) is None and nav.map_pose() is None
    nav.update_odom(1.0, (0.0, 0.0, 0.0), (0.5, 0.0))
    nav.update_odom(2.0, (0.5, 0.0, math.pi / 2), (0.5, 0.0))
    pose, exact = nav.odom_at(1.5)
    assert exact and pose == pytest.approx((0.25, 0.0, math.pi / 4))
    pose, exact = nav.odom_at(2.1)  # newer than the last message: driven on with the twist
    assert not exact and pose[1] == pytest.approx(0.05)
    pose, exact = nav.odom_at(9.0)  # never more than MAX_EXTRAPOLATION
    assert pose[1] == pytest.approx(0.1)
    x, y, th = nav.map_pose()  # initial pose (the world start) composed with odometry
    assert (x, y) == pytest.approx((WORLD.start_pose.x + 0.5, WORLD.start_pose.y))
    assert th == pytest.approx(math.pi / 2)


def test_a_scan_is_placed_with_the_pose_at_its_own_stamp_not_the_latest():
    nav = navigator()
    nav.update_odom(0.0, (0.0, 0.0, 0.0), (0.0, 1.0))
    nav.update_odom(1.0, (0.0, 0.0, math.pi / 2), (0.0, 1.0))  # turned left meanwhile
    ahead = np.array([[1.0, 0.0]])
    placed = nav.add_scan(0.0, ahead, now=0.0)
    start = WORLD.start_pose
    assert placed[0] == pytest.approx((start.x + 1.0, start.y))
    assert nav.add_scan(1.0, ahead, now=0.0)[0] == pytest.approx((start.x, start.y + 1.0))
    assert to_map((1.0, 2.0, math.pi), ahead)[0] == pytest.approx((0.0, 2.0))


def test_scan_points_drop_invalid_returns_and_the_robot_itself():
    nav = navigator()
    pts = nav.scan_points([0.05, math.inf, 2.0, 20.0, math.nan], -0.1, 0.05, 0.1, 10.0)
    assert len(pts) == 1 and math.hypot(*pts[0]) == pytest.approx(2.0, abs=0.3)


def test_an_aisle_cut_by_the_lidar_is_blocked_and_the_route_goes_around_it():
    nav = navigator()
    at(nav, 2.5, 4.0)  # west of aisle 2, facing it
    plan, blocked = nav.plan(EAST, [], now=0.0, lifetime=3.0)
    assert plan.ok and blocked == [] and nav.route_aisles(plan.waypoints) == ['aisle 2']
    wall_across(nav, 5.0, 3.2, 4.8)
    plan, blocked = nav.plan(EAST, [], now=0.5, lifetime=3.0)
    assert blocked == ['aisle 2']
    assert plan.ok and 'aisle 2' not in nav.route_aisles(plan.waypoints)
    hint = nav.detour_hint('aisle 2', EAST, [], now=0.5, lifetime=3.0)
    assert hint.startswith('try aisle') and 'avoid=["aisle 2"]' in hint
    # The obstacle is forgotten after its lifetime, unless a motion remembered the aisle.
    plan, blocked = nav.plan(EAST, [], now=10.0, lifetime=3.0)
    assert blocked == [] and nav.route_aisles(plan.waypoints) == ['aisle 2']
    nav.remember_blocked('aisle 2', until=100.0)
    plan, blocked = nav.plan(EAST, [], now=20.0, lifetime=3.0)
    assert blocked == ['aisle 2'] and 'aisle 2' not in nav.route_aisles(plan.waypoints)
    assert nav.remembered_blocked(101.0) == []


def test_a_blocked_aisle_is_crossed_when_it_is_the_only_way_but_avoid_is_never_entered():
    nav = navigator()
    at(nav, 2.5, 4.0)
    nav.remember_blocked('aisle 2', until=100.0)
    plan, _ = nav.plan(EAST, ['aisle 1', 'aisle 3'], now=0.0, lifetime=3.0)
    assert plan.ok and nav.route_aisles(plan.waypoints) == ['aisle 2']  # soft: the only way
    plan, _ = nav.plan(EAST, ['aisle 1', 'aisle 2', 'aisle 3'], now=0.0, lifetime=3.0)
    assert not plan.ok  # hard: no route exists


def test_a_zone_the_robot_is_in_is_left_not_blocked():
    nav = navigator()
    at(nav, 6.0, 4.0, math.pi)  # inside aisle 2
    plan, _ = nav.plan((2.5, 4.0), ['aisle 2'], now=0.0, lifetime=3.0)
    assert plan.ok and nav.route_aisles(plan.waypoints) == ['aisle 2']


def test_keep_out_zones_are_known_and_never_planned_through():
    nav = navigator()
    assert {'aisle 1', 'aisle 2', 'aisle 3', 'battery storage'} <= set(nav.known_zones())
    at(nav, 0.5, 2.0)
    plan, _ = nav.plan((1.0, 0.5), [], now=0.0, lifetime=3.0)  # a goal inside battery storage
    assert not plan.ok
    assert nav.geofence.check_point((1.0, 0.5)) is not None
    assert nav.geofence.check_point((6.0, 4.0)) is None


def test_carrying_a_box_enlarges_the_body():
    nav = navigator()
    bare = nav.body()
    nav.holding = True
    carrying = nav.body()
    assert carrying.front > bare.front + nav.box_size
    assert (carrying.rear, carrying.half_width) == (bare.rear, bare.half_width)


def test_no_plan_before_odometry():
    plan, blocked = navigator().plan(EAST, [], now=0.0, lifetime=3.0)
    assert not plan.ok and 'odometry' in plan.message and blocked == []
