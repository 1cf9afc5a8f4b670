"""Navigation acceptance on the embedded simulator: every named place, and a blocked aisle.

Real rclpy over DDS and real MuJoCo; positions are checked against the simulator's ground truth
(read by the test only, never by the robot API).
"""

from __future__ import annotations

import math

import pytest
from ros_observer import SPEED_LIMIT, Observer

from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.world import load_world

pytestmark = pytest.mark.ros
WORLD = load_world('warehouse')
TOUR_RTF = 4.0

# A tour through every named place, ordered to keep the driving short.
TOUR = ['aisle 2 west', 'shelf B', 'aisle 2 east', 'packing station', 'aisle 3 east', 'shelf C',
        'shelf D', 'aisle 3 west', 'charging dock', 'start', 'aisle 1 west', 'shelf A',
        'aisle 1 east']


@pytest.mark.slow
def test_go_to_reaches_every_named_place_within_15_cm():
    # Faster than real time: the controller runs on the simulator's clock (use_sim_time), so
    # its limits and timeouts hold in simulated seconds; without the camera the simulator
    # keeps up on 2 busy cores (bench/results/sim.md).
    stack = start_embedded(scenario='default', real_time_factor=TOUR_RTF,
                           sim_params={'enable_camera': False})
    try:
        obs = Observer(stack)
        api = stack.api
        places = api.locations()
        assert set(TOUR) == set(places), 'the tour must cover every named place'
        for name in TOUR:
            place = places[name]
            result = api.move_to(place.x, place.y, place.theta, speed=SPEED_LIMIT)
            x, y, th = obs.robot()
            place = places[name]
            error = math.dist((x, y), (place.x, place.y))
            heading = abs(math.remainder(th - place.theta, 2 * math.pi))
            print(f'{name}: {result.status}, position error {error:.3f} m, '
                  f'heading error {heading:.3f} rad')
            assert result.arrived, f'{name}: {result.message}'
            assert error < 0.15, name
            assert heading < 0.15, name
    finally:
        stack.close()
    print(f'max ground-truth speed: {obs.max_speed:.3f} m/s')
    assert obs.max_speed <= SPEED_LIMIT * 1.05


@pytest.mark.slow
def test_blocked_aisle_returns_blocked_before_collision_then_another_aisle_succeeds():
    # blocked_aisle_2: a pallet (1.0 x 1.3 m) appears in the middle of aisle 2 (6.0, 4.0) as soon
    # as the robot drives into the aisle.
    stack = start_embedded(scenario='blocked_aisle_2', real_time_factor=TOUR_RTF,
                           sim_params={'enable_camera': False})
    try:
        obs = Observer(stack)
        api = stack.api
        first = api.move_to(9.5, 4.0)
        print(first)
        assert first.status == 'blocked', first.message
        assert first.blocked_aisle == 'aisle 2'
        assert 'aisle 2' in first.message and 'avoid' in first.message
        assert first.obstacle_distance is not None and first.obstacle_distance > 0.0
        pallet = next(n for n in obs.truth.names if n.startswith('pallet:'))
        px, py = obs.object_xy(pallet)
        x, y, _ = obs.robot()
        # No collision: the robot's front (0.26 m) stays short of the pallet's face (0.5 m).
        assert px - x > 0.5 + 0.26, (x, px)
        assert 'aisle 2' in api.blocked_aisles()
        route = api.plan_route(9.5, 4.0)
        assert route.ok, route
        # The robot stands in aisle 2 and leaves it westwards; the route does not pass the pallet.
        assert route.aisles[-1] != 'aisle 2' and route.aisles.count('aisle 2') <= 1, route
        assert not any(5.2 < wx < 6.8 and 3.2 < wy < 4.8 for wx, wy in route.waypoints)
        trail: list[tuple[float, float]] = []
        sub = obs.node.create_subscription(
            type(obs.truth), '/sim/ground_truth',
            lambda m: trail.append((m.robot.x, m.robot.y)), 50)
        second = api.move_to(9.5, 4.0)
        obs.node.destroy_subscription(sub)
        assert second.arrived, second.message
        x, y, _ = obs.robot()
        assert math.dist((x, y), (9.5, 4.0)) < 0.15
        # The second route went round through another aisle, never past the pallet.
        assert not any(5.0 < tx < 7.0 and 3.2 < ty < 4.8 for tx, ty in trail)
        assert any(WORLD.aisle_at(tx, ty) in ('aisle 1', 'aisle 3') for tx, ty in trail)
    finally:
        stack.close()
    assert obs.max_speed <= SPEED_LIMIT * 1.05

