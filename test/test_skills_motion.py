"""Motion tasks without ROS: route following stops for obstacles on the route, drive and turn."""

from __future__ import annotations

import math

import numpy as np

from codeact_robot.safety.monitor import Footprint
from codeact_robot.skills.motion import ARRIVED, BLOCKED, TIMED_OUT, DriveTask, FollowPathTask
from codeact_robot.world import load_world

WORLD = load_world('warehouse')
FOOT = Footprint(0.26, 0.24, 0.23)


def _task(deadline: float = 100.0) -> FollowPathTask:
    return FollowPathTask([(3.5, 4.0), (8.5, 4.0)], 0.4, 1.0, None, deadline, FOOT,
                          WORLD.aisle_at)


def test_lidar_return_on_the_route_ahead_blocks_with_aisle_and_distance():
    task = _task()
    pallet = np.array([(4.6, y) for y in np.linspace(3.5, 4.5, 11)])
    step = task.step(0.0, (3.5, 4.0, 0.0), pallet)
    assert step.outcome is not None and step.outcome.status == BLOCKED
    assert step.outcome.blocked_aisle == 'aisle 2'
    assert 0.7 < step.outcome.obstacle_distance < 0.9  # 1.1 m ahead minus the 0.26 m front
    assert 'aisle 2' in step.outcome.message


def test_returns_beside_or_far_beyond_the_route_do_not_block():
    task = _task()
    shelves = np.array([(x, y) for x in np.linspace(3.5, 8.5, 30) for y in (3.2, 4.8)])
    far = np.array([(7.5, 4.0)])  # on the route, but beyond the look-ahead
    step = task.step(0.0, (3.5, 4.0, 0.0), np.vstack([shelves, far]))
    assert step.outcome is None and step.command[0] > 0.0


def test_route_task_arrives_and_times_out():
    task = _task()
    assert task.step(0.0, (8.5, 4.0, 0.0), np.zeros((0, 2))).outcome.status == ARRIVED
    late = _task(deadline=1.0).step(2.0, (4.0, 4.0, 0.0), np.zeros((0, 2)))
    assert late.outcome.status == TIMED_OUT and 'move_to again' in late.outcome.message


def test_drive_task_drives_holds_heading_then_turns_and_settles():
    task = DriveTask(1.0, math.pi / 2, 0.4, 1.0, deadline=100.0)
    first = task.step(0.0, (0.0, 0.0, 0.0), velocity=(0.0, 0.0))
    assert first.command[0] > 0.0 and first.phase == 'driving'
    drifted = task.step(0.1, (0.5, 0.0, 0.1), velocity=(0.4, 0.0))
    assert drifted.command[1] < 0.0  # steer back to the start heading
    turning = task.step(0.2, (1.0, 0.0, 0.0), velocity=(0.0, 0.0))
    assert turning.phase == 'turning' and turning.command == (0.0, turning.command[1])
    assert turning.command[1] > 0.0
    still_turning = task.step(0.3, (1.0, 0.0, math.pi / 2), velocity=(0.0, 0.5))
    assert still_turning.outcome is None and still_turning.phase == 'settling'
    done = task.step(0.4, (1.0, 0.0, math.pi / 2), velocity=(0.0, 0.0))
    assert done.outcome is not None and done.outcome.status == ARRIVED
