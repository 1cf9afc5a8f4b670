"""The ROS-free simulator core: real MuJoCo physics, sensors and scenarios (no ROS)."""

import math

import cv2
import numpy as np
import pytest

from codeact_robot.sim import SimError, WarehouseSim
from codeact_robot.world import Scenario, load_scenario, load_world
from codeact_robot.world.markers import face_texture, marker_image


@pytest.fixture(scope='module')
def world():
    return load_world()


def sim_at(world, x, y, theta, **kwargs):
    """A simulator whose robot starts at (x, y, theta)."""
    return WarehouseSim(world, Scenario('test', '', 0, start=(x, y, theta)), **kwargs)


def drive(sim, v, w, duration, period=0.1):
    """Send (v, w) every ``period`` s of sim time for ``duration`` s (like a 10 Hz publisher)."""
    t_end = sim.time + duration
    while sim.time < t_end - 1e-9:
        sim.set_cmd_vel(v, w)
        sim.step_for(min(period, t_end - sim.time))


def dist(p, q):
    return math.hypot(p.x - q.x, p.y - q.y)


def test_cmd_vel_moves_the_robot_and_odometry_follows(world):
    sim = sim_at(world, 1.2, 4.0, 0.0)
    sim.step_for(0.2)
    start = sim.robot_pose()
    drive(sim, 0.3, 0.0, 2.0)
    sim.set_cmd_vel(0.0, 0.0)
    sim.step_for(0.5)
    end = sim.robot_pose()
    assert dist(start, end) == pytest.approx(0.6, rel=0.05)
    assert abs(end.y - start.y) < 0.01 and abs(end.theta) < 0.02
    odom = sim.odometry()
    # Odometry starts at 0 at the start pose and integrates the wheels.
    assert odom.x == pytest.approx(end.x - 1.2, abs=0.01)
    assert abs(odom.v) < 0.01


def test_turning_in_place(world):
    sim = sim_at(world, 1.5, 4.0, 0.0)
    drive(sim, 0.0, 1.0, 1.0)
    sim.set_cmd_vel(0.0, 0.0)
    sim.step_for(0.5)
    pose, odom = sim.robot_pose(), sim.odometry()
    assert pose.theta == pytest.approx(1.0, abs=0.1)
    assert odom.theta == pytest.approx(pose.theta, abs=0.05)
    assert math.hypot(pose.x - 1.5, pose.y - 4.0) < 0.02


def test_no_command_for_half_a_second_stops(world):
    sim = sim_at(world, 1.2, 4.0, 0.0)
    drive(sim, 0.4, 0.0, 1.0)
    last_cmd = sim.time
    sim.step_for(0.3)
    assert sim.odometry().v > 0.3  # still obeying the last command within the timeout
    sim.step_for(0.5)
    assert sim.time - last_cmd > 0.5
    stopped = sim.robot_pose()
    assert abs(sim.odometry().v) < 0.01
    sim.step_for(1.0)
    assert dist(stopped, sim.robot_pose()) < 0.005


def test_driving_into_a_shelf_does_not_pass_through(world):
    shelf_b = world.shelf('B')
    sim = sim_at(world, 4.5 + 1.0, 3.95, -math.pi / 2)  # beside the red box, facing shelf B
    drive(sim, 0.6, 0.0, 3.0)
    pose = sim.robot_pose()
    half_length = world.robot.chassis_length / 2
    assert pose.y > shelf_b.rect.ymax + half_length - 0.01
    assert pose.y < 3.95 - 0.4  # it did drive up to the shelf


def test_suction_picks_carries_and_drops_a_box(world):
    box = world.box('red box')
    sim = sim_at(world, box.x, 3.95, -math.pi / 2)
    assert not sim.set_suction(True).holding  # nothing touches the pad yet
    for _ in range(100):
        drive(sim, 0.15, 0.0, 0.05)
        if sim.gripper().holding:
            break
    state = sim.gripper()
    assert state.holding and state.held == 'red box'
    drive(sim, -0.3, 0.0, 1.0)
    drive(sim, 0.0, 1.0, 1.0)
    sim.set_cmd_vel(0.0, 0.0)
    sim.step_for(0.3)
    pose = sim.robot_pose()
    bx, by, bz = sim.box_position('red box')
    # Carried in front of the pad, off the ledge, above the floor.
    reach = math.hypot(bx - pose.x, by - pose.y)
    assert reach == pytest.approx(world.robot.pad_x + world.robot.pad_size[0] / 2
                                  + box.size / 2, abs=0.03)
    assert by > world.shelf('B').rect.ymax + 0.1
    assert bz > box.size / 2 + 0.05
    assert sim.ground_truth().held == 'red box'
    # The held box is invisible to the lidar: nothing right in front of it.
    scan = sim.lidar_scan()
    assert scan.ranges[len(scan.ranges) // 2] > 0.5
    sim.step_for(2.0)  # standing still: the held box must not doze off in the air
    released = sim.set_suction(False)
    assert not released.holding and not released.suction_on
    sim.step_for(1.0)
    assert sim.box_position('red box')[2] == pytest.approx(box.size / 2, abs=0.01)


def test_suction_does_not_grab_from_a_distance(world):
    box = world.box('red box')
    sim = sim_at(world, box.x, 3.95, -math.pi / 2)
    assert not sim.set_suction(True).holding
    sim.step_for(1.0)
    assert not sim.gripper().holding
    assert sim.box_position('red box')[1] == pytest.approx(box.y, abs=1e-3)


def test_lidar_sees_walls_at_the_right_range(world):
    sim = sim_at(world, 1.2, 4.0, 0.0)
    scan = sim.lidar_scan()
    assert len(scan.ranges) == world.robot.lidar.rays >= 180
    lid = world.lidar_mount
    back = scan.ranges[0]  # angle_min = -pi: straight back to the west wall
    west_face = world.bounds.xmin + 0.1  # walls are 0.2 m thick, centred on the bounds
    assert back == pytest.approx(1.2 + lid.x - west_face, abs=0.03)
    left = scan.ranges[3 * len(scan.ranges) // 4]  # +pi/2: north wall
    assert left == pytest.approx(8.0 - 0.1 - 4.0, abs=0.03)


def test_scheduled_obstacle_appears_in_scan_in_blocked_aisle(world):
    scenario = load_scenario('blocked_aisle_2', world)
    sim = WarehouseSim(world, scenario)
    ahead = len(sim.lidar_scan().ranges) // 2
    clear = sim.lidar_scan().ranges[ahead]
    assert clear > 8.0  # aisle 2 is open: the ray reaches the packing station
    assert sim.ground_truth().obstacles == {}
    # Drive into aisle 2: the trigger zone puts the pallet in the aisle's middle.
    drive(sim, 0.8, 0.0, 2.8)
    pose = sim.robot_pose()
    assert world.aisle_at(pose.x, pose.y) == 'aisle 2'
    (pallet,) = sim.ground_truth().obstacles.values()
    assert world.aisle_at(pallet.x, pallet.y) == 'aisle 2'
    blocked = sim.lidar_scan().ranges[ahead]
    half = world.obstacle_kinds['pallet'].size[0] / 2
    expected = pallet.x - half - (pose.x + world.lidar_mount.x)
    assert blocked == pytest.approx(expected, abs=0.05)


def test_set_obstacle_place_and_clear(world):
    sim = sim_at(world, 1.2, 4.0, 0.0)
    ahead = len(sim.lidar_scan().ranges) // 2
    sim.set_obstacle('p1', 'person', x=3.0, y=4.0)
    assert sim.lidar_scan().ranges[ahead] == pytest.approx(3.0 - 0.25 - 1.38, abs=0.05)
    sim.set_obstacle('p1', present=False)
    assert sim.lidar_scan().ranges[ahead] > 8.0
    with pytest.raises(SimError):
        sim.set_obstacle('x', 'tank', aisle='aisle 1')
    with pytest.raises(SimError):
        sim.set_obstacle('nobody', present=False)
    sim.set_obstacle('f1', 'forklift', aisle='aisle 3')
    sim.set_obstacle('f2', 'forklift', aisle='aisle 1')
    with pytest.raises(SimError):  # only obstacle_slots forklifts exist
        sim.set_obstacle('f3', 'forklift', aisle='aisle 2')
    # Obstacles have collision: the robot cannot drive through a pallet.
    sim.set_obstacle('pal', 'pallet', x=2.5, y=4.0)
    drive(sim, 0.5, 0.0, 3.0)
    assert sim.robot_pose().x < 2.5 - 0.5 - world.robot.chassis_length / 2 + 0.02


def test_camera_sees_the_box_marker_and_depth(world):
    place = world.places['shelf B']
    sim = sim_at(world, place.x, place.y, place.theta)
    sim.step_for(0.1)
    rgb, depth = sim.render_rgbd()
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert depth.shape == (240, 320) and depth.dtype == np.float32
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _ = detector.detectMarkers(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    box = world.box('red box')
    assert ids is not None and box.marker_id in ids.ravel().tolist()
    # Depth at the marker centre = distance along the optical axis to the box face.
    u, v = corners[0][0].mean(axis=0)
    fx, fy, cx, cy = sim.camera_intrinsics()
    z = float(depth[int(round(v)), int(round(u))])
    cam = world.camera_mount
    pose = sim.robot_pose()
    face_y = box.y + box.size / 2
    horizontal = (pose.y - cam.x) - face_y  # camera looks along -y here
    ray_z = box.z - cam.z
    # Back-project the pixel and compare with the true face distance.
    along = horizontal * math.cos(cam.pitch) - ray_z * math.sin(cam.pitch)
    assert z == pytest.approx(along, rel=0.08)
    # The box colour is in the image around the marker.
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    assert red.sum() > 100
    sim.close()


def test_same_seed_same_trajectory_and_scans(world):
    def run(seed):
        sim = WarehouseSim(world, load_scenario('blocked_aisle_2', world), seed=seed)
        poses, scans = [], []
        for i in range(30):
            sim.set_cmd_vel(0.5, 0.3 * math.sin(i / 5))
            sim.step_for(0.1)
            poses.append(tuple(sim.data.qpos.copy()))
            scans.append(sim.lidar_scan().ranges.copy())
        return np.array(poses), np.array(scans)

    a_pose, a_scan = run(3)
    b_pose, b_scan = run(3)
    assert np.array_equal(a_pose, b_pose)
    assert np.array_equal(a_scan, b_scan)
    _, c_scan = run(4)
    assert not np.array_equal(a_scan, c_scan)  # the seed drives the lidar noise


def test_marker_textures_decode():
    world = load_world()
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    for box in world.boxes:
        img = face_texture(box)
        big = cv2.resize(img, (360, 360), interpolation=cv2.INTER_NEAREST)
        _, ids, _ = detector.detectMarkers(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY))
        assert ids is not None and ids.ravel().tolist() == [box.marker_id], box.name
    assert marker_image(1, 60).shape == (60, 60)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        WarehouseSim(physics_rate=10.0)
    sim = WarehouseSim()
    with pytest.raises(ValueError):
        sim.set_cmd_vel(float('nan'), 0.0)
    sim.set_cmd_vel(10.0, 0.0)  # clamped to the robot's limit
    sim.step_for(1.0)
    assert sim.odometry().v <= sim.world.robot.max_linear_speed + 0.02


def test_wheel_odometry_integrates_arcs():
    from codeact_robot.sim.odometry import WheelOdometry

    odom = WheelOdometry(wheel_radius=0.1, wheel_separation=0.5)
    left, right = odom.wheel_rates(0.5, 1.0)  # a circle of radius 0.5 m
    assert odom.twist(left, right) == pytest.approx((0.5, 1.0))
    for i in range(1001):  # pi seconds in 1000 increments: half a circle
        t = math.pi * i / 1000
        odom.update(left * t, right * t)
    assert (odom.x, odom.y) == pytest.approx((0.0, 1.0), abs=1e-4)
    assert abs(abs(odom.theta) - math.pi) < 1e-6


def test_camera_throttle_skips_frames_when_behind_or_costly_but_keeps_a_minimum_rate():
    from codeact_robot.sim.pacing import CameraThrottle

    cam = CameraThrottle(max_share=0.35, max_lag=0.02, min_interval=1.0)
    assert cam.should_render(0.0, lag=0.0)
    cam.done(0.0, 0.01)  # a cheap frame: 10 Hz is within the share
    assert cam.should_render(0.11, lag=0.0)
    assert not cam.should_render(0.11, lag=0.05)  # physics behind real time: camera first
    assert cam.should_render(0.11, lag=None)  # not paced (real_time_factor 0): every frame
    cam = CameraThrottle(max_share=0.35)
    cam.done(0.0, 0.1)  # 100 ms per frame: at most one per 0.29 s
    assert not cam.should_render(0.2, lag=0.0)
    assert cam.should_render(0.4, lag=0.0)
    assert cam.should_render(1.2, lag=5.0)  # however far behind: a frame per second
    assert cam.skipped == 1


def test_rest_mode_rests_after_a_quiet_spell_and_wakes_on_a_moving_command():
    from codeact_robot.sim.pacing import RestMode
    rest = RestMode(enabled=True, after=2.0)
    assert rest.update(1.0, 0.0, 0.0)  # never commanded and still
    assert rest.command(1.5, 0.0, 0.0) is False  # a zero command is no motion
    assert rest.command(2.0, 0.3, 0.0) is True and not rest.resting  # woken at once
    assert not rest.update(3.9, 0.0, 0.0)  # quiet for less than 2 s
    assert rest.update(4.0, 0.0, 0.0)
    assert not rest.update(4.1, 0.05, 0.0)  # pushed, or still rolling: not at rest
    assert rest.wakeups == 1
    assert not RestMode().update(10.0, 0.0, 0.0)  # off unless enabled
    with pytest.raises(ValueError, match='after'):
        RestMode(after=-1.0)


def test_two_robots_share_the_warehouse_and_see_each_other():
    world = load_world('warehouse')
    start = world.start_pose
    # The second robot 1.5 m ahead of the first, facing it.
    starts = [(start.x, start.y, 0.0), (start.x + 1.5, start.y, math.pi)]
    sim = WarehouseSim(world, 'default', starts=starts)
    alone = WarehouseSim(world, 'default')
    ahead = len(sim.lidar_scan(0).ranges) // 2  # the ray straight ahead
    # Each lidar sees the other robot (its chassis) where the single robot sees open floor.
    assert sim.lidar_scan(0).ranges[ahead] < 1.5 < alone.lidar_scan().ranges[ahead]
    assert sim.lidar_scan(1).ranges[ahead] < 1.5
    # Each robot drives on its own command; the other stays where it is.
    sim.set_cmd_vel(0.3, 0.0, robot=1)
    sim.step_for(1.0)
    first, second = sim.robot_pose(0), sim.robot_pose(1)
    assert abs(first.x - start.x) < 0.01
    assert second.x < start.x + 1.5 - 0.1  # drove 1 s towards the first robot (-x)
    assert sim.odometry(1).x > 0.1 and abs(sim.odometry(0).x) < 0.01
    assert sim.ground_truth(1).robot == second
