"""sim_node: the embedded MuJoCo warehouse behind the ROS 2 interfaces of a ros_gz diff-drive AMR.

Topics: /cmd_vel (in), /odom, /scan, /camera/image_raw, /camera/depth/image_raw,
/camera/camera_info, /joint_states, /clock, /gripper/state; services /gripper/set (SetBool),
/sim/set_obstacle (SetObstacle); simulator-only /sim/ground_truth (tests and benchmarks only).
With ``robots`` (namespaces) and ``robot_poses`` several robots share the warehouse, each with
these topics under its namespace and its frames on ``<namespace>/tf`` (nodes/sim_robot_io.py).
Physics runs on its own thread, paced by ``real_time_factor`` (0 = as fast as possible); every
message is stamped with sim time. On a loaded machine the camera is degraded first (frames
skipped, ``sim/pacing.py``) so that /clock, /odom and /scan, the robot's safety inputs, keep
their rates in wall time too; /cmd_vel never waits for the physics thread. Publishers are
reliable, so both reliable and best-effort (sensor-data QoS) subscribers receive them.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from codeact_robot.nodes.parameters import describe
from codeact_robot.nodes.ros_log import log_graph
from codeact_robot.nodes.runner import spin_until_shutdown
from codeact_robot.nodes.sim_robot_io import RobotIO, set_stamp
from codeact_robot.sim import SimError, WarehouseSim
from codeact_robot.sim.camera import RenderError
from codeact_robot.sim.pacing import CameraThrottle, RestMode
from codeact_robot.world import WorldError
from codeact_robot_interfaces.srv import SetObstacle

NODE_NAME = 'sim_node'
MAX_LAG = 0.5  # s of wall time behind schedule before pacing gives up catching up

_PARAMS: dict[str, tuple[Any, str, tuple[float, float] | None]] = {
    'world': ('warehouse', 'World name (sim/worlds/<name>.yaml) or path', None),
    'scenario': ('default', 'Scenario name (sim/scenarios/<name>.yaml) or path', None),
    'seed': (-1, 'Random seed; -1 = the scenario\'s seed', (-1, 2**31 - 1)),
    'real_time_factor': (1.0, 'Sim seconds per wall second; 0 = as fast as possible',
                         (0.0, 1000.0)),
    'physics_rate': (250.0, 'Physics steps per sim second (Hz)', (50.0, 5000.0)),
    'odom_rate': (50.0, '/odom and /joint_states rate (Hz, sim time)', (1.0, 1000.0)),
    'scan_rate': (10.0, '/scan rate (Hz, sim time)', (1.0, 100.0)),
    'camera_rate': (10.0, 'Camera rate (Hz, sim time); renders only with subscribers',
                    (0.5, 60.0)),
    'camera_width': (320, 'Camera image width (px)', (16, 1280)),
    'camera_height': (240, 'Camera image height (px)', (16, 960)),
    'enable_camera': (True, 'Publish the camera topics', None),
    'clock_rate': (100.0, '/clock rate (Hz, sim time)', (10.0, 1000.0)),
    'publish_clock': (True, 'Publish /clock (false: another node provides it, e.g. a log '
                      'player)', None),
    'ground_truth_rate': (20.0, '/sim/ground_truth rate (Hz, sim time)', (1.0, 200.0)),
    'cmd_timeout': (0.5, 'Stop when no /cmd_vel arrived for this long (s, sim time)',
                    (0.05, 10.0)),
    'viewer': (False, 'Open a MuJoCo viewer window (needs a display)', None),
    'cmd_vel_stamped': (False, 'Take /cmd_vel as TwistStamped (as ros2_control\'s '
                        'diff_drive_controller does by default) instead of Twist', None),
    'publish_tf': (True, 'Publish odom -> base_link on /tf (as a Gazebo diff-drive plugin does) '
                   'and the sensor frames of the world\'s robot block on /tf_static (false: '
                   'a robot_state_publisher provides them)', None),
    'rest_when_idle': (False, 'Slow /clock, /odom, /joint_states and /scan to the rest rates '
                       'while the robot stands still and nobody commands it (gives CPU to the '
                       'model); the first moving /cmd_vel restores the full rates', None),
    'rest_after': (2.0, 'Sim seconds without a moving /cmd_vel before the robot rests',
                   (0.0, 60.0)),
    'rest_clock_rate': (20.0, '/clock rate at rest (Hz, sim time)', (10.0, 1000.0)),
    'rest_odom_rate': (10.0, '/odom and /joint_states rate at rest (Hz, sim time)', (2.0, 1000.0)),
    'rest_scan_rate': (5.0, '/scan rate at rest (Hz, sim time)', (2.0, 100.0)),
}
_RUNTIME = ('real_time_factor', 'odom_rate', 'scan_rate', 'camera_rate', 'clock_rate',
            'ground_truth_rate', 'cmd_timeout', 'enable_camera', 'publish_clock',
            'rest_when_idle', 'rest_after', 'rest_clock_rate', 'rest_odom_rate', 'rest_scan_rate')
# Streams whose rate drops at rest, and the parameters of their full and rest rates.
_REST_STREAMS = {'clock': ('clock_rate', 'rest_clock_rate'),
                 'odom': ('odom_rate', 'rest_odom_rate'), 'scan': ('scan_rate', 'rest_scan_rate')}
CAMERA_REPORT_PERIOD = 10.0  # s of wall time between log lines about skipped camera frames


class _Schedule:
    """Sim-time deadlines of one periodic publisher."""

    def __init__(self, rate: float, start: float) -> None:
        self.period = 1.0 / rate
        self.next = start

    def set_rate(self, rate: float, t: float) -> None:
        """Change the rate from sim time ``t`` on (a faster rate takes effect at once)."""
        self.period = 1.0 / rate
        self.next = min(self.next, t + self.period)

    def due(self, t: float) -> bool:
        """Return True (and schedule the next deadline) when ``t`` reached the deadline."""
        if t + 1e-9 < self.next:
            return False
        self.next += self.period
        if self.next <= t:  # fell behind (rate changed): skip, do not burst
            self.next = t + self.period
        return True


class SimNode(Node):
    """ROS 2 shell around WarehouseSim: same topics, types and frames as a ros_gz robot."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, text, bounds) in _PARAMS.items():
            self.declare_parameter(name, default, describe(text, default, bounds,
                                                           read_only=name not in _RUNTIME))
        p = {name: self.get_parameter(name).value for name in _PARAMS}
        namespaces, starts = self._robots()
        try:
            self._sim = WarehouseSim(p['world'], p['scenario'],
                                     seed=None if p['seed'] < 0 else p['seed'],
                                     physics_rate=p['physics_rate'], cmd_timeout=p['cmd_timeout'],
                                     starts=starts)
        except (WorldError, OSError) as e:
            raise ValueError(f'sim_node: cannot load world/scenario: {e}') from e
        self.params = p
        self.lock = threading.Lock()  # the simulator's: the physics thread holds it to step
        self._stop = threading.Event()
        self._rate_changed = threading.Event()
        self._rest = RestMode(bool(p['rest_when_idle']), float(p['rest_after']))
        self.render_failed = False
        self._viewer: Any = None
        self._events_seen = 0
        self.camera_throttle = CameraThrottle()
        self._camera_reported = (time.monotonic(), 0)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._pub_clock = self.create_publisher(Clock, '/clock', reliable)
        self._clock_msg = Clock()
        self.create_service(SetObstacle, 'sim/set_obstacle', self._on_set_obstacle)
        # /cmd_vel is handed to the physics thread through each robot's slot: the callback
        # never waits for a physics step or a camera render (it runs on an executor thread).
        self.robots = [RobotIO(self, self._sim, i, ns, p) for i, ns in enumerate(namespaces)]

        self._thread = threading.Thread(target=self._run, name='sim-physics', daemon=True)
        self._thread.start()
        scenario = self._sim.scenario.name if self._sim.scenario else '-'
        robots = f', robots {namespaces}' if len(namespaces) > 1 else ''
        self.get_logger().info(
            f'warehouse simulator: world {self._sim.world.name}, scenario {scenario}, '
            f'seed {self._sim.seed}, real_time_factor {p["real_time_factor"]}{robots}')
        log_graph(self)

    def _robots(self) -> tuple[list[str], list[tuple[float, float, float]] | None]:
        """Read ``robots`` and ``robot_poses``: the namespaces and start poses of the robots."""
        self.declare_parameter('robots', Parameter.Type.STRING_ARRAY, describe(
            'Namespaces of several robots sharing the warehouse (e.g. [robot1, robot2]); '
            'unset = one robot with plain names', read_only=True))
        self.declare_parameter('robot_poses', Parameter.Type.DOUBLE_ARRAY, describe(
            'Start poses of those robots in the map frame: x, y, yaw for each', read_only=True))
        names = list(self.get_parameter_or('robots', Parameter('robots', value=[])).value)
        poses = list(self.get_parameter_or('robot_poses',
                                           Parameter('robot_poses', value=[])).value)
        if not names:
            return [''], None
        if len(set(names)) != len(names) or not all(n.strip('/') and ' ' not in n
                                                     for n in names):
            raise ValueError(f'sim_node: robots must be distinct namespaces, got {names}')
        if len(poses) != 3 * len(names):
            raise ValueError(f'sim_node: robot_poses needs x, y, yaw for each of {names} '
                             f'({3 * len(names)} numbers), got {len(poses)}')
        return ([n.strip('/') for n in names],
                [tuple(poses[3 * i:3 * i + 3]) for i in range(len(names))])

    # --- parameters -----------------------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name not in _PARAMS:
                continue
            if param.name not in _RUNTIME:
                return SetParametersResult(successful=False,
                                           reason=f'{param.name} is fixed at startup')
            bounds = _PARAMS[param.name][2]
            if bounds is not None and not bounds[0] <= param.value <= bounds[1]:
                return SetParametersResult(successful=False,
                                           reason=f'{param.name} must be in {bounds}')
        for param in params:
            if param.name in _PARAMS:
                self.params[param.name] = param.value
        self._rate_changed.set()
        return SetParametersResult(successful=True)

    # --- inputs ---------------------------------------------------------------------------------
    def _apply_cmd(self) -> None:
        """Apply each robot's latest cmd_vel at a step boundary (physics thread, locked)."""
        for io in self.robots:
            cmd = io.take_cmd()
            if cmd is not None:
                self._sim.set_cmd_vel(*cmd, robot=io.index)
                self._rest.command(self._sim.time, *cmd)

    def _on_set_obstacle(self, request: SetObstacle.Request,
                         response: SetObstacle.Response) -> SetObstacle.Response:
        try:
            with self.lock:
                response.message = self._sim.set_obstacle(
                    request.name, request.kind or 'pallet', request.aisle,
                    None if request.aisle else request.x, None if request.aisle else request.y,
                    request.present)
            response.success = True
        except SimError as e:
            response.success = False
            response.message = str(e)
        return response

    # --- physics thread -------------------------------------------------------------------------
    def _rate(self, stream: str) -> float:
        full, rest = _REST_STREAMS[stream]
        p = self.params
        return min(p[full], p[rest]) if self._rest.resting else p[full]

    def _schedules(self) -> dict[str, _Schedule]:
        t, p = self._sim.time, self.params
        self._rest.enabled = bool(p['rest_when_idle'])
        self._rest.after = float(p['rest_after'])
        return {'clock': _Schedule(self._rate('clock'), t),
                'odom': _Schedule(self._rate('odom'), t),
                'scan': _Schedule(self._rate('scan'), t), 'camera': _Schedule(p['camera_rate'], t),
                'truth': _Schedule(p['ground_truth_rate'], t), 'gripper': _Schedule(2.0, t)}

    def _run(self) -> None:
        try:
            self._loop()
        except (RenderError, RuntimeError, ValueError) as e:
            self.get_logger().error(f'physics thread stopped: {e}')
            raise
        finally:
            with self.lock:
                self._sim.close()
            if self._viewer is not None:
                self._viewer.close()

    def _loop(self) -> None:
        sim = self._sim
        if self.params['viewer']:
            self._open_viewer()
        schedules = self._schedules()
        wall0, sim0 = time.monotonic(), sim.time
        while not self._stop.is_set():
            if self._rate_changed.is_set():
                self._rate_changed.clear()
                schedules = self._schedules()
                wall0, sim0 = time.monotonic(), sim.time
            rtf = self.params['real_time_factor']
            with self.lock:
                resting = self._rest.resting
                self._apply_cmd()  # a moving command wakes a resting robot
                # The fastest robot decides: the simulator rests only when all stand still.
                odoms = [sim.odometry(io.index) for io in self.robots]
                v = max((o.v for o in odoms), key=abs)
                w = max((o.w for o in odoms), key=abs)
                if self._rest.update(sim.time, v, w) != resting:
                    for stream, schedule in schedules.items():
                        if stream in _REST_STREAMS:
                            schedule.set_rate(self._rate(stream), sim.time)
                target = min(s.next for s in schedules.values())
                steps = max(1, math.ceil((target - sim.time) / sim.timestep - 1e-6))
                sim.step(steps)
                lag = time.monotonic() - wall0 - (sim.time - sim0) / rtf if rtf > 0 else None
                self._publish_due(schedules, lag)
            if self._viewer is not None:
                self._sync_viewer()
            if rtf > 0:
                ahead = wall0 + (sim.time - sim0) / rtf - time.monotonic()
                if ahead > 0:
                    self._stop.wait(ahead)
                elif ahead < -MAX_LAG:
                    wall0, sim0 = time.monotonic(), sim.time  # slower than real time: no burst

    def _publish_due(self, schedules: dict[str, _Schedule], lag: float | None = None) -> None:
        sim, t = self._sim, self._sim.time
        if schedules['clock'].due(t) and self.params['publish_clock']:
            set_stamp(self._clock_msg.clock, t)
            self._pub_clock.publish(self._clock_msg)
        due = {name: schedule.due(t) for name, schedule in schedules.items()}
        for io in self.robots:
            if due['odom']:
                io.publish_odom(t)
            if due['scan']:
                io.publish_scan(self.params['scan_rate'])
            if due['camera'] and self.params['enable_camera']:
                io.publish_camera(t, lag)
            if due['truth']:
                io.publish_truth()
            # On change at once (a grasp waits for 'holding'), else as a 2 Hz heartbeat.
            if due['gripper'] or io.gripper_changed():
                g = sim.gripper(io.index)
                io.publish_gripper(g.suction_on, g.holding, t)
        if len(sim.events) > self._events_seen:
            for event in sim.events[self._events_seen:]:
                self.get_logger().info(f'sim t={t:.2f}: {event}')
            self._events_seen = len(sim.events)

    def report_camera(self, wall_now: float) -> None:
        """Log (at most every CAMERA_REPORT_PERIOD s) how many camera frames load skipped."""
        since, skipped = self._camera_reported
        if wall_now - since >= CAMERA_REPORT_PERIOD:
            n = self.camera_throttle.skipped - skipped
            self.get_logger().info(
                f'camera degraded under load: skipped {n} frames in the last '
                f'{wall_now - since:.0f} s (render {1e3 * self.camera_throttle.cost:.0f} ms/frame)'
                '; /clock, /odom and /scan keep their rates')
            self._camera_reported = (wall_now, self.camera_throttle.skipped)

    # --- viewer ---------------------------------------------------------------------------------
    def _open_viewer(self) -> None:
        if not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
            self.get_logger().warning('viewer requested but no display: running headless')
            return
        try:
            import mujoco.viewer
            self._viewer = mujoco.viewer.launch_passive(self._sim.model, self._sim.data)
        except (ImportError, RuntimeError) as e:
            self.get_logger().warning(f'viewer unavailable ({e}): running headless')

    def _sync_viewer(self) -> None:
        if not self._viewer.is_running():
            self._viewer = None
            return
        with self.lock:
            self._viewer.sync()

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def sim(self) -> WarehouseSim:
        """The simulator (lock with ``locked()`` before touching it from another thread)."""
        return self._sim

    def locked(self, fn: Callable[[WarehouseSim], Any]) -> Any:
        """Run ``fn(sim)`` while the physics thread is paused between steps."""
        with self.lock:
            return fn(self._sim)

    def destroy_node(self) -> None:
        """Stop the physics thread, then destroy the node."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        super().destroy_node()


def _overrides(argv: list[str]) -> tuple[list[Parameter], list[str]]:
    parser = argparse.ArgumentParser(
        prog='codeact-robot sim', allow_abbrev=False,
        description='Run the embedded warehouse simulator.',
        epilog='All parameters (config/sim.yaml): --ros-args -p name:=value or '
               '--ros-args --params-file config/sim.yaml')
    parser.add_argument('--world', help='world name or path')
    parser.add_argument('--scenario', help='scenario name or path (e.g. blocked_aisle_2)')
    parser.add_argument('--seed', type=int, help='random seed (default: the scenario\'s)')
    parser.add_argument('--rtf', '--real-time-factor', type=float, dest='real_time_factor',
                        help='real-time factor, 0 = as fast as possible')
    parser.add_argument('--no-camera', action='store_true', help='do not publish camera topics')
    parser.add_argument('--viewer', action='store_true', help='open a viewer window')
    parser.add_argument('--view', action='store_true',
                        help='also serve the live view to the Foxglove app (view_node, '
                             'ws://127.0.0.1:8765)')
    if argv[:1] == ['--']:  # `codeact-robot sim -- --scenario x` passes the separator on
        argv = argv[1:]
    args, rest = parser.parse_known_args(argv)
    overrides = [Parameter(name, value=getattr(args, name))
                 for name in ('world', 'scenario', 'seed', 'real_time_factor')
                 if getattr(args, name) is not None]
    if args.no_camera:
        overrides.append(Parameter('enable_camera', value=False))
    if args.viewer:
        overrides.append(Parameter('viewer', value=True))
    if args.view:
        rest = ['--view', *rest]  # for main(): not a simulator parameter
    return overrides, rest


def main(argv: list[str] | None = None) -> None:
    """Run the simulator node until Ctrl-C (``codeact-robot sim`` and ``sim_node``)."""
    import sys

    from codeact_robot.ros_env import remove_stale_shared_memory

    argv = sys.argv[1:] if argv is None else list(argv)
    overrides, ros_args = _overrides(argv)
    view = ros_args[:1] == ['--view']
    ros_args = ros_args[1:] if view else ros_args
    remove_stale_shared_memory()
    # The default context: rclpy's SIGINT handler shuts it down and ends spin().
    rclpy.init(args=['sim_node', *ros_args])
    more = []
    if view:
        from codeact_robot.nodes.view_node import ViewNode

        world = [p for p in overrides if p.name == 'world']
        more.append(lambda: ViewNode(parameter_overrides=world))
    spin_until_shutdown(lambda: SimNode(parameter_overrides=overrides), 2, *more)


if __name__ == '__main__':
    main()
