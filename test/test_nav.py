"""Grid A*, geometry and pure pursuit on the real warehouse map (no ROS)."""

import math
import time

import numpy as np
import pytest

from codeact_robot.nav.follower import PathFollower
from codeact_robot.nav.geometry import (
    compose,
    densify,
    quaternion_from_yaw,
    rectangle,
    wrap_angle,
    yaw_from_quaternion,
)
from codeact_robot.nav.planner import GridPlanner
from codeact_robot.world import OccupancyGrid, load_world

WORLD = load_world('warehouse')


@pytest.fixture(scope='module')
def planner() -> GridPlanner:
    g = WORLD.occupancy_grid(resolution=0.05)
    return GridPlanner(g, WORLD.robot.radius)


def _min_clearance(planner: GridPlanner, waypoints) -> float:
    grid = planner.grid
    clearance = grid.clearance(grid.occupied)
    return min(float(clearance[grid.world_to_cell(*p)]) for p in densify(waypoints, 0.02))


def test_geometry_helpers():
    assert wrap_angle(3 * math.pi) == pytest.approx(-math.pi)
    assert compose((1.0, 2.0, math.pi / 2), (1.0, 0.0, 0.0)) == pytest.approx((1.0, 3.0,
                                                                               math.pi / 2))
    q = quaternion_from_yaw(0.7)
    assert yaw_from_quaternion(*q) == pytest.approx(0.7)


@pytest.mark.parametrize('name', sorted(WORLD.places))
def test_routes_from_start_to_every_place_keep_clear_of_shelves(planner, name):
    place = WORLD.places[name]
    start = WORLD.start_pose
    plan = planner.plan((start.x, start.y), (place.x, place.y))
    assert plan.ok, plan.message
    assert plan.waypoints[0] == (start.x, start.y)
    assert plan.waypoints[-1] == (place.x, place.y)
    # Every point of the route keeps the robot body off the static obstacles.
    assert _min_clearance(planner, plan.waypoints) >= WORLD.robot.radius
    assert plan.length >= math.dist((start.x, start.y), (place.x, place.y)) - 1e-6


def test_avoided_aisle_is_not_entered(planner):
    grid = planner.grid
    aisle2 = WORLD.aisle('aisle 2').rect
    zones = grid.polygon_mask([rectangle(*aisle2.as_tuple())])
    goal = WORLD.places['packing station']
    direct = planner.plan((2.5, 4.0), (goal.x, goal.y))
    around = planner.plan((2.5, 4.0), (goal.x, goal.y), zones=zones)
    assert direct.ok and around.ok
    assert any(WORLD.aisle_at(*p) == 'aisle 2' for p in densify(direct.waypoints, 0.05))
    assert not any(WORLD.aisle_at(*p) == 'aisle 2' for p in densify(around.waypoints, 0.05))
    assert around.length > direct.length


def test_live_obstacle_reroutes_and_goal_inside_it_is_refused(planner):
    grid = planner.grid
    obstacles = grid.empty_mask()
    # A pallet across aisle 2 (1.0 x 1.3 m) as lidar points on its outline.
    xs = np.linspace(5.5, 6.5, 30)
    ys = np.linspace(3.35, 4.65, 30)
    pts = np.array([(x, y) for x in xs for y in (3.35, 4.65)] + [(x, y) for x in (5.5, 6.5)
                                                                 for y in ys])
    grid.mark_points(obstacles, pts)
    plan = planner.plan((2.5, 4.0), (9.5, 4.0), obstacles=obstacles)
    assert plan.ok
    assert not any(5.3 < p[0] < 6.7 and 3.3 < p[1] < 4.7 for p in densify(plan.waypoints, 0.05))
    refused = planner.plan((2.5, 4.0), (5.5, 4.65), obstacles=obstacles)
    assert not refused.ok and 'occupied' in refused.message


def test_goal_outside_map_or_in_shelf_is_refused(planner):
    assert 'outside' in planner.plan((1.2, 4.0), (50.0, 4.0)).message
    assert 'occupied' in planner.plan((1.2, 4.0), (6.0, 3.0)).message


def test_planning_is_fast_enough_for_interactive_use(planner):
    t0 = time.perf_counter()
    plan = planner.plan((1.2, 4.0), (7.5, 6.05))
    elapsed = time.perf_counter() - t0
    print(f'plan start -> shelf C: {elapsed * 1000:.0f} ms, {plan.length:.2f} m')
    assert plan.ok


def test_pure_pursuit_turns_towards_the_path_then_drives_and_stops_at_goal():
    f = PathFollower([(0.0, 0.0), (2.0, 0.0)], speed=0.5, max_angular=1.0, final_theta=1.0)
    behind = f.step((0.0, 0.0, math.pi))
    assert behind.linear == 0.0 and abs(behind.angular) == pytest.approx(1.0)
    left = f.step((0.0, 0.1, 0.0))
    assert 0.0 < left.linear <= 0.5 and left.angular < 0.0  # steer back right onto the path
    align = f.step((2.0, 0.0, 0.0))
    assert align.phase == 'aligning' and align.angular > 0.0 and align.linear == 0.0
    settling = f.step((2.0, 0.0, 1.0))
    assert settling.phase == 'settling' and not settling.done  # still turning a moment ago
    done = f.step((2.0, 0.0, 1.0))
    assert done.done


def test_pure_pursuit_drives_a_kinematic_unicycle_along_an_l_shaped_path():
    # A unicycle kinematic model (not a simulator double: it is the follower's own motion model)
    # checks that the control law converges; the real robot is covered in test_skills_node.
    f = PathFollower([(0.0, 0.0), (2.0, 0.0), (2.0, 2.0)], speed=0.5, max_angular=1.0)
    x, y, th, dt = 0.0, 0.0, 0.0, 0.05
    for _ in range(400):
        cmd = f.step((x, y, th))
        if cmd.done:
            break
        assert cmd.linear <= 0.5 + 1e-9 and abs(cmd.angular) <= 1.0 + 1e-9
        x += cmd.linear * math.cos(th) * dt
        y += cmd.linear * math.sin(th) * dt
        th += cmd.angular * dt
    assert cmd.done
    assert math.dist((x, y), (2.0, 2.0)) <= 0.1


def _lidar_grid():
    from codeact_robot.world.grid import rasterize
    rects = ([w.rect for w in WORLD.walls] + [s.parts()[1] for s in WORLD.shelves]
             + [s.rect for s in WORLD.stations])
    return rasterize(WORLD.bounds, rects, 0.05, 0.0)


def _raycast(grid: OccupancyGrid, pose, n: int = 360, max_range: float = 10.0) -> np.ndarray:
    """Base-frame lidar returns (lidar at the base origin) by marching rays through the grid."""
    angles = np.linspace(-math.pi, math.pi, n, endpoint=False)
    r = np.arange(0.1, max_range, 0.01)[:, None]
    x = pose[0] + r * np.cos(pose[2] + angles)
    y = pose[1] + r * np.sin(pose[2] + angles)
    rows = np.floor((y - grid.origin[1]) / grid.resolution).astype(int)
    cols = np.floor((x - grid.origin[0]) / grid.resolution).astype(int)
    inside = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    hit = ~inside
    hit[inside] = grid.occupied[rows[inside], cols[inside]]
    first = np.argmax(hit, axis=0)
    ok = hit[first, np.arange(n)]
    ranges = r[first, 0][ok]
    return np.column_stack([ranges * np.cos(angles[ok]), ranges * np.sin(angles[ok])])


@pytest.mark.parametrize('true_pose', [(1.2, 4.0, 0.0), (6.0, 4.0, 1.2), (10.2, 2.0, -2.5)])
def test_scan_matcher_recovers_pose_from_a_drifted_guess(true_pose):
    from codeact_robot.nav.localizer import ScanMatcher
    grid = _lidar_grid()
    pts = _raycast(grid, true_pose)
    matcher = ScanMatcher(grid)
    guess = (true_pose[0] + 0.15, true_pose[1] - 0.1, true_pose[2] + 0.06)
    m = matcher.match(guess, pts)
    assert m.ok, m
    assert math.dist(m.pose[:2], true_pose[:2]) < 0.03
    assert abs(wrap_angle(m.pose[2] - true_pose[2])) < 0.01


def test_scan_matcher_ignores_unmapped_obstacles_and_refuses_nonsense():
    from codeact_robot.nav.localizer import Localizer, ScanMatcher
    grid = _lidar_grid()
    true_pose = (2.0, 4.0, 0.0)
    pts = _raycast(grid, true_pose)
    # A pallet-sized cluster 1.5 m ahead that the map does not know.
    clutter = np.array([(1.5, y) for y in np.linspace(-0.6, 0.6, 25)])
    matcher = ScanMatcher(grid)
    m = matcher.match((2.1, 3.95, 0.03), np.vstack([pts, clutter]))
    assert m.ok and math.dist(m.pose[:2], true_pose[:2]) < 0.03
    assert not matcher.match(true_pose, np.random.default_rng(0).uniform(-5, 5, (300, 2))).ok
    loc = Localizer(matcher, initial=(1.0, 4.0, 0.0))
    odom = (1.0, 0.0, 0.0)  # odometry says x = 2.0; truth is x = 2.0 too: no correction needed
    for _ in range(5):
        loc.update(odom, pts)
    assert math.dist(loc.map_pose(odom)[:2], true_pose[:2]) < 0.03
    drifted = (1.1, 0.05, 0.02)  # odometry drifted; the scan still shows the true pose
    for _ in range(10):
        loc.update(drifted, pts)
    assert math.dist(loc.map_pose(drifted)[:2], true_pose[:2]) < 0.03
