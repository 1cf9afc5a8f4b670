"""GraspSkill on real MuJoCo physics: a ROS-free GraspMotionPort drives the simulator core.

``SimGraspPort`` is a real port implementation (odometry-closed-loop drive/turn, lidar stop,
suction, camera), not a mock; the skills node implements the same protocol over ROS. The sim's
ground truth is read only to check outcomes.
"""

from __future__ import annotations

import math

import pytest

from codeact_robot.api.types import Pose
from codeact_robot.perception import intrinsics
from codeact_robot.sim import WarehouseSim
from codeact_robot.skills.grasp import GraspConfig, GraspSkill, GraspStatus
from codeact_robot.skills.perceive import PerceptionSkill, RgbdFrame
from codeact_robot.world import Scenario, load_world

PERIOD = 0.05  # s, control period of the port's loops


class SimGraspPort:
    """GraspMotionPort over WarehouseSim: map pose = start pose composed with wheel odometry."""

    def __init__(self, sim: WarehouseSim, start: Pose, max_speed: float = 0.5,
                 max_angular: float = 1.0, accel: float = 1.0, obstacle_distance: float = 0.3,
                 timeout: float = 20.0) -> None:
        self.sim = sim
        self.start = start
        self.max_speed, self.max_angular, self.accel = max_speed, max_angular, accel
        self.obstacle_distance = obstacle_distance
        self.timeout = timeout
        self.k = intrinsics(*sim.camera_intrinsics())
        self.front = sim.world.robot.pad_x + sim.world.robot.pad_size[0] / 2
        self.max_commanded_speed = 0.0
        self.motions: list[tuple[str, float]] = []

    def pose(self) -> Pose:
        odom = self.sim.odometry()
        c, s = math.cos(self.start.theta), math.sin(self.start.theta)
        return Pose(self.start.x + c * odom.x - s * odom.y,
                    self.start.y + s * odom.x + c * odom.y,
                    math.remainder(self.start.theta + odom.theta, 2 * math.pi))

    def latest_rgbd(self) -> RgbdFrame:
        rgb, depth = self.sim.render_rgbd()
        return RgbdFrame(rgb, depth, self.k, self.pose())

    def _command(self, v: float, w: float) -> None:
        self.max_commanded_speed = max(self.max_commanded_speed, abs(v))
        self.sim.set_cmd_vel(v, w)
        self.sim.step_for(PERIOD)

    def _obstacle_ahead(self, direction: float) -> bool:
        scan = self.sim.lidar_scan()
        lidar_x = self.sim.world.robot.lidar_mount.x
        half_width = self.sim.world.robot.footprint[1] / 2
        for i, r in enumerate(scan.ranges):
            if not math.isfinite(r):
                continue
            a = scan.angle_min + i * scan.angle_increment
            x, y = lidar_x + r * math.cos(a), r * math.sin(a)
            ahead = x - self.front if direction > 0 else -x - 0.24
            if abs(y) <= half_width and 0 < ahead < self.obstacle_distance:
                return True
        return False

    def drive_straight(self, distance: float, speed: float, contact: bool = False) -> str:
        self.motions.append(('drive', distance))
        sign = 1.0 if distance >= 0 else -1.0
        start = self.pose()
        limit = min(speed, self.max_speed, 0.1 if contact else self.max_speed)
        v = 0.0
        deadline = self.sim.time + self.timeout
        stalled = 0.0
        while True:
            now = self.pose()
            done = sign * ((now.x - start.x) * math.cos(start.theta)
                           + (now.y - start.y) * math.sin(start.theta))
            remaining = abs(distance) - done
            if remaining <= 0.003:
                status = 'arrived'
                break
            if self.sim.time > deadline:
                status = 'timed_out'
                break
            if not contact and self._obstacle_ahead(sign):
                status = 'blocked'
                break
            # Heading hold keeps the line straight; speed ramps within the accel limit.
            w = 2.0 * math.remainder(start.theta - now.theta, 2 * math.pi)
            v = min(limit, v + self.accel * PERIOD, math.sqrt(2 * self.accel * remaining) + 0.02)
            before = done
            self._command(sign * v, w)
            if contact:
                moved = abs(sign * ((self.pose().x - start.x) * math.cos(start.theta)
                                    + (self.pose().y - start.y) * math.sin(start.theta)) - before)
                stalled = stalled + PERIOD if moved < 0.0005 else 0.0
                if stalled > 0.5:
                    status = 'blocked'  # pressed against something
                    break
        self.stop()
        return status

    def turn(self, angle: float) -> str:
        self.motions.append(('turn', angle))
        goal = self.pose().theta + angle
        deadline = self.sim.time + self.timeout
        while True:
            error = math.remainder(goal - self.pose().theta, 2 * math.pi)
            if abs(error) < 0.005:
                status = 'arrived'
                break
            if self.sim.time > deadline:
                status = 'timed_out'
                break
            w = max(-self.max_angular, min(self.max_angular, 2.5 * error))
            if abs(w) < 0.08:
                w = math.copysign(0.08, error)
            self._command(0.0, w)
        self.stop()
        return status

    def set_suction(self, on: bool) -> None:
        self.sim.set_suction(on)

    def holding(self) -> bool:
        return self.sim.gripper().holding

    def stop(self) -> None:
        self.sim.set_cmd_vel(0.0, 0.0)
        self.sim.step_for(0.1)

    def wait(self, seconds: float) -> None:
        self.sim.set_cmd_vel(0.0, 0.0)
        self.sim.step_for(seconds)


class LeakyGripperPort(SimGraspPort):
    """Double of a broken vacuum pump (a hardware fault the simulator cannot produce)."""

    def set_suction(self, on: bool) -> None:
        self.sim.set_suction(False)


@pytest.fixture(scope='module')
def world():
    return load_world()


def make(world, x: float, y: float, theta: float, port_class=SimGraspPort,
         config: GraspConfig | None = None):
    sim = WarehouseSim(world, Scenario('grasp', '', 0, start=(x, y, theta)))
    sim.step_for(0.1)
    port = port_class(sim, Pose(x, y, theta))
    skill = GraspSkill(world, PerceptionSkill(world), port, config=config)
    return sim, port, skill


def at_place(world, name: str, port_class=SimGraspPort):
    place = world.places[name]
    return make(world, place.x, place.y, place.theta, port_class)


def test_grasps_the_red_box_from_shelf_b(world):
    sim, port, skill = at_place(world, 'shelf B')
    phases = []
    try:
        outcome = skill.run('red', feedback=lambda phase, d: phases.append(phase))
        truth = sim.ground_truth()
        box = sim.box_position('red box')
    finally:
        sim.close()
    assert outcome.status == GraspStatus.HELD, outcome.message
    assert outcome.holding and outcome.ok
    assert 'Holding the red box (marker 1)' in outcome.message
    assert truth.held == 'red box'
    # Backed off with it: the box left the ledge and is in front of the robot.
    assert box[1] > world.box('red box').y + 0.2
    assert outcome.detection is not None and outcome.detection.marker_id == 1
    assert phases[0] == 'searching' and 'suction' in phases and phases[-1] == 'verifying'
    assert port.max_commanded_speed <= 0.5 + 1e-9


def test_lines_up_with_a_box_off_to_the_side(world):
    # From the shelf A place the orange box is 0.3 m to the left of the robot's axis.
    sim, port, skill = at_place(world, 'shelf A')
    try:
        outcome = skill.run('orange box')
        held = sim.ground_truth().held
        green = sim.box_position('green box')
        orange = sim.box_position('orange box')
        robot = sim.robot_pose()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.HELD, outcome.message
    assert held == 'orange box'
    # Picked up square and centred on the pad.
    sideways = (-(orange[0] - robot.x) * math.sin(robot.theta)
                + (orange[1] - robot.y) * math.cos(robot.theta))
    assert abs(sideways) < 0.03
    assert abs(math.remainder(robot.theta - world.places['shelf A'].theta, 2 * math.pi)) < 0.06
    # The neighbour was not disturbed.
    start_green = world.box('green box')
    assert math.hypot(green[0] - start_green.x, green[1] - start_green.y) < 0.01
    assert any(kind == 'turn' for kind, _ in port.motions)


def test_grasp_by_marker_id(world):
    sim, _, skill = at_place(world, 'shelf C')
    try:
        outcome = skill.run('marker 4')
        held = sim.ground_truth().held
    finally:
        sim.close()
    assert outcome.status == GraspStatus.HELD, outcome.message
    assert held == 'blue box'


def test_not_found_searches_and_turns_back(world):
    sim, port, skill = at_place(world, 'shelf B')
    try:
        outcome = skill.run('yellow')
        pose = port.pose()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.NOT_FOUND
    assert not outcome.holding
    assert 'No yellow box in view' in outcome.message and 'red box' in outcome.message
    assert 'go_to' in outcome.message
    assert [kind for kind, _ in port.motions] == ['turn', 'turn', 'turn']
    assert abs(math.remainder(pose.theta - world.places['shelf B'].theta, 2 * math.pi)) < 0.05


def test_too_far_is_unreachable_with_a_hint_and_no_motion(world):
    # At the west end of aisle 2, looking at the red box 2.2 m away on shelf B.
    sim, port, skill = make(world, 2.5, 4.0, math.atan2(-0.8, 2.0))
    try:
        outcome = skill.run('red')
    finally:
        sim.close()
    assert outcome.status == GraspStatus.UNREACHABLE, outcome.message
    assert 'move_to(' in outcome.message and 'm away' in outcome.message
    assert port.motions == []


def test_seal_failure_is_not_held_and_backs_off(world):
    sim, port, skill = at_place(world, 'shelf B', LeakyGripperPort)
    try:
        outcome = skill.run('red')
        gripper = sim.gripper()
        pose = sim.robot_pose()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.NOT_HELD
    assert 'did not seal' in outcome.message and 'grasp("red")' in outcome.message
    assert not outcome.holding and not gripper.suction_on
    assert port.motions[-1][0] == 'drive' and port.motions[-1][1] < 0
    assert pose.y > world.shelf('B').rect.ymax + 0.4  # backed away from the shelf


def test_cancel_stops_before_contact(world):
    sim, port, skill = at_place(world, 'shelf B')
    phases = []
    try:
        outcome = skill.run('red', should_cancel=lambda: 'approaching' in phases,
                            feedback=lambda phase, d: phases.append(phase))
        gripper = sim.gripper()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.CANCELED
    assert not gripper.holding and not gripper.suction_on
    assert abs(sim.odometry().v) < 0.02


def test_invalid_target_and_already_holding_do_not_move(world):
    sim, port, skill = at_place(world, 'shelf B')
    try:
        bad = skill.run('pink elephant')
        assert bad.status == GraspStatus.INVALID and 'red box' in bad.message
        sim.set_suction(True)
        port.drive_straight(0.6, 0.1, contact=True)
        assert port.holding()
        port.motions.clear()
        again = skill.run('red')
    finally:
        sim.close()
    assert again.status == GraspStatus.INVALID and 'release()' in again.message
    assert again.holding
    assert port.motions == []


def test_box_beside_another_on_the_shelf_is_taken_from_the_front(world):
    # task_two_on_b: the blue box stands 0.4 m left of the red box on shelf B; its side face is
    # visible too, but the pad must go onto its front face without touching the red box.
    import dataclasses

    from codeact_robot.world import load_scenario

    place = world.places['shelf B']
    scenario = dataclasses.replace(load_scenario('task_two_on_b', world),
                                   start=(place.x, place.y, place.theta))
    sim = WarehouseSim(world, scenario)
    try:
        sim.step_for(0.1)
        port = SimGraspPort(sim, Pose(place.x, place.y, place.theta))
        outcome = GraspSkill(world, PerceptionSkill(world), port).run('blue')
        held = sim.ground_truth().held
        red = sim.box_position('red box')
        robot = sim.robot_pose()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.HELD, outcome.message
    assert held == 'blue box'
    assert math.hypot(red[0] - 4.5, red[1] - 3.1) < 0.01
    assert abs(math.remainder(robot.theta - place.theta, 2 * math.pi)) < 0.06


def test_floor_box_seen_at_an_angle_is_approached_square(world):
    # The purple box lies on the floor with its faces along the axes; the robot stops 20
    # degrees off and must still put the pad flat on the south face.
    sim, port, skill = make(world, 10.0, 5.8, 1.3)
    try:
        outcome = skill.run('purple box')
        held = sim.ground_truth().held
        robot = sim.robot_pose()
    finally:
        sim.close()
    assert outcome.status == GraspStatus.HELD, outcome.message
    assert held == 'purple box'
    assert abs(math.remainder(robot.theta - math.pi / 2, 2 * math.pi)) < 0.06
