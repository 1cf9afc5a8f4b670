"""WarehouseSim: MuJoCo physics of the warehouse and the diff-drive robot, without ROS.

The ROS node (codeact_robot.nodes.sim_node) steps it and publishes its sensors; tests and
benchmarks use it directly. Everything random draws from one seeded generator, and commands are
applied at step boundaries, so the same seed and the same commands at the same sim times give
the same trajectory. Several robots can share the warehouse (``starts``); the methods that
concern one robot take its index, ``robot=0`` by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from codeact_robot.api.types import Pose
from codeact_robot.sim.camera import RgbdCamera
from codeact_robot.sim.lidar import Lidar
from codeact_robot.sim.obstacles import ActiveObstacle, ObstacleError, ObstacleManager
from codeact_robot.sim.odometry import WheelOdometry
from codeact_robot.world.mjcf import (
    CAMERA_NAME,
    LEFT_WHEEL,
    LIDAR_SITE,
    PAD_GEOM,
    RIGHT_WHEEL,
    ROBOT_BODY,
    WHEEL_ACTUATORS,
    build_mjcf,
    grip_name,
    robot_prefix,
)
from codeact_robot.world.model import World, WorldError, load_world
from codeact_robot.world.scenario import Scenario, load_scenario, obstacle_position

CMD_TIMEOUT = 0.5  # s of sim time without /cmd_vel before the wheels stop (as ros_gz diff-drive)
TRIGGER_PERIOD = 0.01  # s between checks of scenario triggers


class SimError(RuntimeError):
    """The simulator cannot do what was asked."""


@dataclass(frozen=True)
class OdometryData:
    """Wheel odometry in the odom frame (starts at 0, 0, 0) and the base-frame twist."""

    stamp: float
    x: float
    y: float
    theta: float
    v: float
    w: float


@dataclass(frozen=True)
class LaserScanData:
    """One lidar sweep; ranges follow the LaserScan conventions (inf = no return)."""

    stamp: float
    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray


@dataclass(frozen=True)
class GripperStatus:
    """Suction on/off, whether a box is sealed against the pad, and which one."""

    suction_on: bool
    holding: bool
    held: str  # box name, '' if none


@dataclass(frozen=True)
class GroundTruthState:
    """True poses (map frame) for tests and benchmarks; never for the robot's own use."""

    stamp: float
    robot: Pose
    objects: dict[str, tuple[tuple[float, float, float], tuple[float, float, float, float]]]
    obstacles: dict[str, ActiveObstacle]
    held: str


def yaw_of(quat: np.ndarray) -> float:
    """Return the yaw of a (w, x, y, z) quaternion."""
    w, x, y, z = quat
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class SimRobot:
    """One robot in the simulated warehouse: its bodies, wheels, sensors, command and gripper."""

    def __init__(self, sim: WarehouseSim, index: int, shared_world: bool) -> None:
        m = sim.model
        prefix = robot_prefix(index)
        self.index = index

        def find(kind: mujoco.mjtObj, name: str) -> int:
            return mujoco.mj_name2id(m, kind, prefix + name)
        self.body = find(mujoco.mjtObj.mjOBJ_BODY, ROBOT_BODY)
        self.pad = find(mujoco.mjtObj.mjOBJ_GEOM, PAD_GEOM)
        joints = [find(mujoco.mjtObj.mjOBJ_JOINT, j) for j in (LEFT_WHEEL, RIGHT_WHEEL)]
        self.wheel_qpos = [int(m.jnt_qposadr[j]) for j in joints]
        self.wheel_dof = [int(m.jnt_dofadr[j]) for j in joints]
        self.actuators = [find(mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in WHEEL_ACTUATORS]
        #: box name -> weld equality that holds it on this robot's pad
        self.welds = {name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_EQUALITY,
                                              grip_name(index, body))
                      for name, body in sim.mjcf.box_bodies.items()}
        spec = sim.world.robot
        self.odom = WheelOdometry(spec.wheel_radius, spec.wheel_separation)
        self.lidar = Lidar(m, spec.lidar, prefix + LIDAR_SITE,
                           own_body=self.body if shared_world else -1)
        self.camera_name = prefix + CAMERA_NAME
        self.camera: RgbdCamera | None = None
        self.cmd = (0.0, 0.0)
        self.cmd_time = -math.inf
        self.suction = False
        self.held = ''


class WarehouseSim:
    """The warehouse world with the robot(s); call ``step`` to advance physics."""

    def __init__(self, world: World | str = 'warehouse', scenario: Scenario | str | None = None,
                 seed: int | None = None, physics_rate: float = 250.0,
                 cmd_timeout: float = CMD_TIMEOUT,
                 starts: Sequence[tuple[float, float, float]] | None = None) -> None:
        """Build the world.

        Args:
            world: The world, or its name.
            scenario: Box placements, obstacles and start (or its name); None for none.
            seed: Random seed; None = the scenario's.
            physics_rate: Physics steps per simulated second.
            cmd_timeout: Simulated seconds a velocity command lasts.
            starts: Map poses (x, y, yaw) of several robots sharing the warehouse; None for
                one robot at the scenario's (or the world's) start.
        """
        self.world = load_world(world) if isinstance(world, str) else world
        if isinstance(scenario, str):
            scenario = load_scenario(scenario, self.world)
        self.scenario = scenario
        if not 50.0 <= physics_rate <= 5000.0:
            raise ValueError(f'physics_rate must be in [50, 5000] Hz, got {physics_rate}')
        self.seed = int(seed if seed is not None else (scenario.seed if scenario else 0))
        self.rng = np.random.default_rng(self.seed)
        self.cmd_timeout = cmd_timeout
        mjcf = build_mjcf(self.world, scenario, timestep=1.0 / physics_rate, starts=starts)
        self.mjcf = mjcf
        self.model = mujoco.MjModel.from_xml_string(mjcf.xml, mjcf.assets)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._boxes: dict[str, tuple[int, int]] = {}  # name -> body, geom
        for name, body in mjcf.box_bodies.items():
            self._boxes[name] = (mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body),
                                 mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, body))
        count = len(starts) if starts else 1
        self.robots = [SimRobot(self, i, shared_world=count > 1) for i in range(count)]
        self.obstacles = ObstacleManager(m, mjcf.obstacle_slots,
                                         scenario.obstacles if scenario else ())
        self.events: list[str] = []
        self._next_trigger = 0.0
        self._attach_distance = self.world.robot.attach_distance
        mujoco.mj_forward(m, self.data)
        for r in self.robots:
            r.odom.update(*self._wheel_angles(r))
        self._update_obstacles()

    # --- time and stepping -------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Simulated time in seconds."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        """Physics step in seconds."""
        return float(self.model.opt.timestep)

    def step(self, n: int = 1) -> None:
        """Advance physics by ``n`` steps, applying commands, suction and the scenario.

        Steps run in chunks (mj_step with nstep) between the events that change inputs: a
        cmd_vel timeout, scenario trigger checks and, while suction waits for a box, every step.
        """
        m, d = self.model, self.data
        dt = m.opt.timestep
        remaining = int(n)
        while remaining > 0:
            chunk = min(remaining, max(1, math.ceil((self._next_trigger - d.time) / dt - 1e-6)))
            for r in self.robots:
                # Steps (from this one) that still start within cmd_timeout of the last command.
                left = r.cmd_time + self.cmd_timeout - d.time  # -inf before any command
                active_steps = math.floor(left / dt + 1e-6) + 1 if left >= 0 else 0
                v, w = r.cmd if active_steps > 0 else (0.0, 0.0)
                d.ctrl[r.actuators[0]], d.ctrl[r.actuators[1]] = r.odom.wheel_rates(v, w)
                if active_steps > 0:
                    chunk = min(chunk, active_steps)
                if r.suction and not r.held:
                    self._try_attach(r)
                    chunk = 1
            mujoco.mj_step(m, d, nstep=chunk)
            remaining -= chunk
            for r in self.robots:
                r.odom.update(d.qpos[r.wheel_qpos[0]], d.qpos[r.wheel_qpos[1]])
            if d.time >= self._next_trigger - 1e-9:
                self._update_obstacles()

    def step_for(self, duration: float) -> None:
        """Advance physics by at least ``duration`` seconds of sim time (whole steps)."""
        self.step(max(0, math.ceil(duration / self.timestep - 1e-6)))

    def _update_obstacles(self) -> None:
        # Scenario triggers (an aisle blocked when the robot comes near) follow the first robot.
        self._next_trigger = self.data.time + TRIGGER_PERIOD
        pose = self.robot_pose()
        self.events += self.obstacles.update(self.data, self.time, pose.x, pose.y)

    # --- commands ------------------------------------------------------------------------------
    def set_cmd_vel(self, linear: float, angular: float, robot: int = 0) -> None:
        """Command base velocity (m/s, rad/s), clamped to the robot's limits; lasts cmd_timeout."""
        spec, r = self.world.robot, self.robots[robot]
        if not (math.isfinite(linear) and math.isfinite(angular)):
            raise ValueError(f'non-finite cmd_vel ({linear}, {angular})')
        r.cmd = (max(-spec.max_linear_speed, min(spec.max_linear_speed, linear)),
                 max(-spec.max_angular_speed, min(spec.max_angular_speed, angular)))
        r.cmd_time = self.time

    def set_suction(self, on: bool, robot: int = 0) -> GripperStatus:
        """Switch suction; on attaches a box touching the pad, off drops the held box."""
        r = self.robots[robot]
        r.suction = bool(on)
        if on:
            if not r.held:
                self._try_attach(r)
        elif r.held:
            body, _ = self._boxes[r.held]
            self.data.eq_active[r.welds[r.held]] = 0
            self._wake(body)  # a released box must fall, not rest asleep in mid-air
            self.events.append(f'released {r.held}' + self._by(r))
            r.held = ''
        return self.gripper(robot)

    def gripper(self, robot: int = 0) -> GripperStatus:
        """Return the suction gripper's state."""
        r = self.robots[robot]
        return GripperStatus(r.suction, bool(r.held), r.held)

    def _by(self, r: SimRobot) -> str:
        return f' (robot {r.index + 1})' if len(self.robots) > 1 else ''

    def _try_attach(self, r: SimRobot) -> None:
        m, d = self.model, self.data
        pad_pos = d.geom_xpos[r.pad]
        taken = {other.held for other in self.robots}
        for name, (body, geom) in self._boxes.items():
            if name in taken or np.linalg.norm(d.geom_xpos[geom] - pad_pos) > 0.4:
                continue
            gap = mujoco.mj_geomDistance(m, d, r.pad, geom, 0.05, None)
            if gap <= self._attach_distance:
                self._weld(r, body, r.welds[name])
                r.held = name
                self.events.append(f'attached {name}' + self._by(r))
                return

    def _weld(self, r: SimRobot, body: int, eq: int) -> None:
        # Hold the box where it touches the pad: relpose = box pose in the robot body frame.
        d = self.data
        p1, q1 = d.xpos[r.body], d.xquat[r.body]
        p2, q2 = d.xpos[body], d.xquat[body]
        q1_inv = np.zeros(4)
        mujoco.mju_negQuat(q1_inv, q1)
        rel_pos = np.zeros(3)
        mujoco.mju_rotVecQuat(rel_pos, p2 - p1, q1_inv)
        rel_quat = np.zeros(4)
        mujoco.mju_mulQuat(rel_quat, q1_inv, q2)
        data = self.model.eq_data[eq]
        data[0:3] = 0.0  # anchor at the box centre
        data[3:6] = rel_pos
        data[6:10] = rel_quat
        data[10] = 1.0  # torquescale
        d.eq_active[eq] = 1

    def _wake(self, body: int) -> None:
        # Resting boxes sleep (mjENBL_SLEEP). A box released from a standing robot has no
        # velocity and its countdown ran out while held, so it would fall asleep in mid-air:
        # restart the countdown of its (awake) tree. Sleeping trees are left to MuJoCo.
        tree = self.model.body_treeid[body]
        if tree >= 0 and self.data.tree_asleep[tree] < 0:
            self.data.tree_asleep[tree] = -(1 + mujoco.mjMINAWAKE)

    # --- sensors --------------------------------------------------------------------------------
    def _wheel_angles(self, r: SimRobot) -> tuple[float, float]:
        q = self.data.qpos
        return float(q[r.wheel_qpos[0]]), float(q[r.wheel_qpos[1]])

    def wheel_state(self, robot: int = 0) -> tuple[tuple[float, float], tuple[float, float]]:
        """Return ((left, right) angles in rad, (left, right) rates in rad/s)."""
        r, qv = self.robots[robot], self.data.qvel
        return self._wheel_angles(r), (float(qv[r.wheel_dof[0]]), float(qv[r.wheel_dof[1]]))

    def odometry(self, robot: int = 0) -> OdometryData:
        """Return wheel odometry (odom frame) and the twist measured by the wheels."""
        odom = self.robots[robot].odom
        _, rates = self.wheel_state(robot)
        v, w = odom.twist(*rates)
        return OdometryData(self.time, odom.x, odom.y, odom.theta, v, w)

    def lidar_scan(self, robot: int = 0) -> LaserScanData:
        """Cast the lidar rays now; the robot and the box it holds are invisible to it."""
        r = self.robots[robot]
        exclude = self._boxes[r.held][0] if r.held else -1
        lid = r.lidar
        return LaserScanData(self.time, lid.angle_min, lid.angle_max, lid.angle_increment,
                             lid.spec.range_min, lid.spec.range_max,
                             lid.scan(self.data, exclude, self.rng))

    def render_rgbd(self, width: int | None = None, height: int | None = None, robot: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Render the camera: (rgb HxWx3 uint8, depth HxW float32 metres, inf = nothing)."""
        cam, r = self.world.robot.camera, self.robots[robot]
        width = cam.width if width is None else width
        height = cam.height if height is None else height
        if r.camera is None or (r.camera.width, r.camera.height) != (width, height):
            if r.camera is not None:
                r.camera.close()
            r.camera = RgbdCamera(self.model, width, height, r.camera_name)
        return r.camera.render(self.data)

    def camera_intrinsics(self, width: int | None = None,
                          height: int | None = None) -> tuple[float, float, float, float]:
        """Return (fx, fy, cx, cy) of the camera for an image of the given size."""
        return self.world.robot.camera.intrinsics(width, height)

    # --- ground truth and obstacles ----------------------------------------------------------
    def robot_pose(self, robot: int = 0) -> Pose:
        """Return the robot's true pose in the map frame."""
        d, body = self.data, self.robots[robot].body
        pos = d.xpos[body]
        return Pose(float(pos[0]), float(pos[1]), yaw_of(d.xquat[body]))

    def box_position(self, name: str) -> tuple[float, float, float]:
        """Return the true centre of box ``name``."""
        body = self._boxes[self.world.box(name).name][0]
        return tuple(float(v) for v in self.data.xpos[body])  # type: ignore[return-value]

    def ground_truth(self, robot: int = 0) -> GroundTruthState:
        """Return true poses of the robot, the boxes and the standing obstacles."""
        d = self.data
        objects = {name: (tuple(float(v) for v in d.xpos[body]),
                          tuple(float(v) for v in d.xquat[body]))
                   for name, (body, _) in self._boxes.items()}
        return GroundTruthState(self.time, self.robot_pose(robot), objects,  # type: ignore[arg-type]
                                self.obstacles.active, self.robots[robot].held)

    def set_obstacle(self, name: str, kind: str = 'pallet', aisle: str = '',
                     x: float | None = None, y: float | None = None, present: bool = True,
                     yaw: float = 0.0) -> str:
        """Place (present) or clear an obstacle; return a message, raise SimError if impossible."""
        try:
            if not present:
                self.obstacles.clear(self.data, name)
                message = f'cleared {name!r}'
            else:
                px, py = obstacle_position(self.world, aisle or None, x, y)
                self.obstacles.place(self.data, name, kind, px, py, yaw)
                message = f'placed {kind} {name!r} at ({px:.2f}, {py:.2f})'
        except (ObstacleError, WorldError) as e:
            raise SimError(str(e)) from e
        # Kinematics now, so sensors see the change before the next step.
        mujoco.mj_kinematics(self.model, self.data)
        self.events.append(message)
        return message

    def close(self) -> None:
        """Free rendering resources (from the thread that rendered)."""
        for r in self.robots:
            if r.camera is not None:
                r.camera.close()
                r.camera = None
