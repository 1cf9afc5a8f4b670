"""Watch the robot: its topics live in the Foxglove app, and recorded to MCAP files.

The view node subscribes to the robot's topics as serialized CDR and forwards each message
unchanged to a Foxglove WebSocket server (the app's standard "Foxglove WebSocket"
connection, on 127.0.0.1:8765 by default) and/or an MCAP file, on a channel with the topic's
ROS 2 name, schema (``ros2msg``) and encoding (``cdr``), as foxglove_bridge and rosbag2 do. It
adds what no topic carries: the warehouse as a 3D scene (``view/warehouse``, walls, shelves,
stations, keep-out zones and place names) and what moves in it (``view/objects``: boxes,
obstacles, the robot, the path driven and the aisles found blocked), both as
``visualization_msgs/MarkerArray``. The agent's turns (code, output, verdict) arrive on
``agent/log`` (``rcl_interfaces/Log``) and show in the app's Log panel.

Recordings are size-bounded (the camera at ``image_rate``) and flushed every second, so a
crash loses at most the last second. The camera is only subscribed while a recording runs or
a connected client watches it (the simulator renders only for subscribers).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import foxglove
from foxglove.mcap import MCAPWriteOptions
from geometry_msgs.msg import Point
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message, serialize_message
from visualization_msgs.msg import Marker, MarkerArray

from codeact_robot.nodes.agent_log import FINISHED
from codeact_robot.nodes.parameters import describe
from codeact_robot.view import ros2msg, scene
from codeact_robot.view.scene import Shape
from codeact_robot.world import World, load_world

NODE_NAME = 'view_node'
DEFAULT_PORT = 8765
FLUSH_PERIOD = 1.0  # s: what a crash can lose of a recording
PATH_STEP = 0.05  # m between recorded points of the path driven
PATH_POINTS = 5000  # the driven path keeps its last points (bounded memory)

_PARAMS: dict[str, tuple[Any, str, tuple[float, float] | None]] = {
    'world': ('warehouse', 'World description drawn as the scene (name or path)', None),
    'live': (True, 'Serve the Foxglove WebSocket protocol', None),
    'host': ('127.0.0.1', 'Address the WebSocket server listens on', None),
    'port': (DEFAULT_PORT, 'WebSocket port (0 = any free port)', (0, 65535)),
    'record': ('', 'MCAP file to record from the start (empty = none)', None),
    'image_rate': (2.0, 'Camera frames per second forwarded and recorded (Hz)', (0.1, 30.0)),
    'scene_rate': (4.0, 'Updates of the moving scene per second (Hz)', (0.5, 30.0)),
}


@dataclass(frozen=True)
class Bridged:
    """A ROS topic forwarded to the view: relative name, message class, QoS and kind."""

    topic: str
    msg: type
    qos: QoSProfile
    camera: bool = False


def bridged_topics() -> list[Bridged]:
    """Return the topics the view forwards (relative names: a namespace moves them all)."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry
    from nav_msgs.msg import Path as PathMsg
    from rcl_interfaces.msg import Log
    from sensor_msgs.msg import Image, LaserScan
    from tf2_msgs.msg import TFMessage

    from codeact_robot_interfaces.msg import GroundTruth, SafetyEvent

    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    sensor = QoSProfile(depth=5, reliability=qos_profile_sensor_data.reliability)
    static = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return [Bridged('odom', Odometry, sensor), Bridged('scan', LaserScan, sensor),
            Bridged('/tf', TFMessage, QoSProfile(depth=100)),
            Bridged('/tf_static', TFMessage, static),
            Bridged('camera/image_raw', Image, QoSProfile(depth=1), camera=True),
            Bridged('skills/pose', PoseStamped, reliable), Bridged('plan', PathMsg, reliable),
            Bridged('safety/events', SafetyEvent, QoSProfile(depth=50)),
            Bridged('sim/ground_truth', GroundTruth, reliable),
            Bridged('agent/log', Log, QoSProfile(depth=50)),
            Bridged('/diagnostics', DiagnosticArray, reliable)]


def _channel(topic: str, msg: type, context: foxglove.Context) -> foxglove.Channel:
    name = ros2msg.type_name_of(msg)
    schema = foxglove.Schema(name=name, encoding='ros2msg',
                             data=ros2msg.definition(name).encode())
    return foxglove.Channel(topic, schema=schema, message_encoding='cdr', context=context)


class _Watchers(foxglove.ServerListener):
    """Count the clients subscribed to each channel (the camera is rendered only if watched)."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self._fresh: set[str] = set()
        self._lock = threading.Lock()

    def on_subscribe(self, client: Any, channel: Any) -> None:  # noqa: ARG002
        with self._lock:
            self.count[channel.topic] = self.count.get(channel.topic, 0) + 1
            self._fresh.add(channel.topic)

    def take_fresh(self) -> set[str]:
        """Return the channels subscribed to since the last call."""
        with self._lock:
            fresh, self._fresh = self._fresh, set()
        return fresh

    def on_unsubscribe(self, client: Any, channel: Any) -> None:  # noqa: ARG002
        with self._lock:
            self.count[channel.topic] = max(0, self.count.get(channel.topic, 0) - 1)


class ViewNode(Node):
    """Forward the robot's topics to a Foxglove WebSocket server and to MCAP recordings."""

    def __init__(self, world: World | None = None, name: str = NODE_NAME,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        for name, (default, text, bounds) in _PARAMS.items():
            self.declare_parameter(name, default, describe(text, default, bounds,
                                                           read_only=True))
        p = {name: self.get_parameter(name).value for name in _PARAMS}
        self.world = world or load_world(p['world'])
        self._fox = foxglove.Context()
        self._lock = threading.Lock()
        self._writer: Any = None
        self._recording: Path | None = None
        self._image_period = 1.0 / p['image_rate']
        self._last_image = 0.0
        self._truth: Any = None
        self._pose: tuple[float, float, float] | None = None
        self._path: list[tuple[float, float]] = []
        self._route: list[tuple[float, float]] = []
        self._blocked: list[str] = []
        self.messages: dict[str, int] = {}  # forwarded per topic, for tests and the benchmark
        # The last message of each latched topic (/tf_static), and the map: DDS gives them to
        # late subscribers, so the view gives them to late clients and new recordings.
        self._latched: dict[str, bytes] = {}
        self._finished = threading.Event()  # the agent's 'episode finished' line arrived
        self._channels: dict[str, foxglove.Channel] = {}
        self._camera_sub: Any = None
        self._camera_lock = threading.Lock()
        self._camera: Bridged | None = None
        #: relative topic -> the fully qualified name its channel carries (what clients see)
        self._resolved: dict[str, str] = {}
        for bridged in bridged_topics():
            resolved = self._resolved[bridged.topic] = self.resolve_topic_name(bridged.topic)
            self._channels[bridged.topic] = _channel(resolved, bridged.msg, self._fox)
            if bridged.camera:
                self._camera = bridged
                continue
            self.create_subscription(bridged.msg, bridged.topic, self._forwarder(bridged),
                                     bridged.qos, raw=True)
        for topic in ('view/warehouse', 'view/objects'):
            resolved = self._resolved[topic] = self.resolve_topic_name(topic)
            self._channels[topic] = _channel(resolved, MarkerArray, self._fox)
        self._watchers = _Watchers()
        self.server: Any = None
        if p['live']:
            self.server = foxglove.start_server(
                name='codeact_robot', host=p['host'], port=int(p['port']),
                context=self._fox, server_listener=self._watchers)
            self.get_logger().info(
                f'live view: open the Foxglove app, "Open connection", Foxglove WebSocket '
                f'ws://{p["host"]}:{self.server.port} (layout: config/foxglove_layout.json)')
        self._static = self._markers(scene.static_scene(self.world))
        self.create_timer(1.0 / p['scene_rate'], self._publish_objects)
        self.create_timer(FLUSH_PERIOD, self._every_second)
        if p['record']:
            self.start_recording(Path(p['record']))

    @property
    def port(self) -> int | None:
        """The WebSocket server's port (None without a live view)."""
        return self.server.port if self.server is not None else None

    # -- recording -----------------------------------------------------------------------------

    def start_recording(self, path: Path) -> Path:
        """Record every channel to ``path`` (an .mcap file) until stop_recording()."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._close_writer()
            self._writer = foxglove.open_mcap(
                str(path), allow_overwrite=True, context=self._fox,
                writer_options=MCAPWriteOptions(profile='ros2'))
            self._recording = path
        self._resend(set(self._resolved.values()))  # the map and latched topics open it
        self._update_camera()
        self.get_logger().info(f'recording to {path}')
        return path

    def stop_recording(self) -> Path | None:
        """Finish the recording (summary and index written); return its path."""
        with self._lock:
            path = self._recording
            self._close_writer()
        self._update_camera()
        return path

    def start_episode(self, runs_dir: Path) -> Path:
        """Start recording an episode whose transcript will be written to ``runs_dir``.

        The file is named by the time until finish_episode() moves it beside the transcript;
        a crash leaves it under that name.
        """
        stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime())
        self._finished.clear()
        return self.start_recording(Path(runs_dir) / f'{stamp}-recording.mcap')

    def finish_episode(self, transcript: Path | None, settle: float = 2.0) -> Path | None:
        """Finish the episode's recording; return it, renamed beside ``transcript`` (.mcap).

        The agent's last turn is still on its way over DDS when the episode returns: wait
        (at most ``settle`` s) until its 'episode finished' line is in the recording.
        """
        self._finished.wait(settle)
        path = self.stop_recording()
        if path is None or transcript is None:
            return path
        return path.replace(Path(transcript).with_suffix('.mcap'))

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._recording = None

    # -- forwarding ----------------------------------------------------------------------------

    def _forwarder(self, bridged: Bridged):
        channel = self._channels[bridged.topic]
        parse = {'sim/ground_truth': self._on_truth, 'skills/pose': self._on_pose,
                 'plan': self._on_route, '/diagnostics': self._on_diagnostics,
                 'agent/log': self._on_agent_log}.get(bridged.topic)

        latched = bridged.qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
        tracks = bridged.topic in ('sim/ground_truth', 'skills/pose', '/diagnostics', 'plan',
                                  'agent/log')

        def forward(raw: bytes) -> None:
            if bridged.camera:
                now = time.monotonic()
                if now - self._last_image < self._image_period:
                    return  # a lower camera rate keeps recordings small
                self._last_image = now
            if latched:
                self._latched[bridged.topic] = raw
            if channel.has_sinks():
                channel.log(raw)
                self.messages[bridged.topic] = self.messages.get(bridged.topic, 0) + 1
            elif not tracks:
                return  # nobody watches or records: only the path driven is kept up to date
            if parse is not None:
                parse(deserialize_message(raw, bridged.msg))
        return forward

    def _on_truth(self, msg: Any) -> None:
        self._truth = msg
        self._note_pose(msg.robot.x, msg.robot.y, msg.robot.theta)

    def _on_pose(self, msg: Any) -> None:
        if self._truth is None:  # a real robot: what it believes is all there is
            q = msg.pose.orientation
            self._note_pose(msg.pose.position.x, msg.pose.position.y,
                            2.0 * math.atan2(q.z, q.w))

    def _note_pose(self, x: float, y: float, yaw: float) -> None:
        self._pose = (x, y, yaw)
        if not self._path or math.dist(self._path[-1], (x, y)) >= PATH_STEP:
            self._path.append((x, y))
            del self._path[:-PATH_POINTS]

    def _on_agent_log(self, msg: Any) -> None:
        if f': {FINISHED}' in msg.msg:
            self._finished.set()

    def _on_route(self, msg: Any) -> None:
        self._route = [(p.pose.position.x, p.pose.position.y) for p in msg.poses]

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            for kv in status.values:
                if kv.key == 'blocked_aisles':
                    self._blocked = [a.strip() for a in kv.value.split(',') if a.strip()]

    # -- the scene -----------------------------------------------------------------------------

    def objects(self) -> list[Shape]:
        """Return what moves: boxes, obstacles, the robot, its route, path and blocked aisles."""
        shapes: list[Shape] = []
        truth = self._truth
        if truth is not None:
            poses = [(p.position.x, p.position.y, p.position.z,
                      2.0 * math.atan2(p.orientation.z, p.orientation.w)) for p in truth.poses]
            shapes += scene.objects(self.world, list(truth.names), poses)
        if self._pose is not None:
            shapes += scene.robot(self.world, *self._pose)
        if len(self._path) > 1:
            shapes.append(scene.line('path_driven', self._path, scene.DRIVEN, z=0.03))
        if len(self._route) > 1:
            shapes.append(scene.line('route', self._route, scene.ROUTE, z=0.06))
        shapes += scene.blocked_aisles(self.world, self._blocked)
        return shapes

    def _markers(self, shapes: list[Shape]) -> Any:
        stamp = self.get_clock().now().to_msg()
        markers = [Marker(action=Marker.DELETEALL)]
        kinds = {'cube': Marker.CUBE, 'cylinder': Marker.CYLINDER,
                 'text': Marker.TEXT_VIEW_FACING, 'line': Marker.LINE_STRIP}
        for s in shapes:
            m = Marker(ns=s.ns, id=s.id, type=kinds[s.kind], action=Marker.ADD, text=s.text)
            m.header.frame_id = 'map'
            m.header.stamp = stamp
            m.pose.position.x, m.pose.position.y, m.pose.position.z = s.x, s.y, s.z
            m.pose.orientation.z, m.pose.orientation.w = math.sin(s.yaw / 2), math.cos(s.yaw / 2)
            m.scale.x, m.scale.y, m.scale.z = (float(v) for v in s.size)
            m.color.r, m.color.g, m.color.b, m.color.a = (float(v) for v in s.rgba)
            if s.points:
                m.points = [Point(x=px, y=py, z=pz) for px, py, pz in s.points]
            markers.append(m)
        return MarkerArray(markers=markers)

    def _log_scene(self, markers: Any, topic: str) -> None:
        self._channels[topic].log(serialize_message(markers))
        self.messages[topic] = self.messages.get(topic, 0) + 1

    def _publish_objects(self) -> None:
        if self._channels['view/objects'].has_sinks():
            self._log_scene(self._markers(self.objects()), 'view/objects')

    def _resend(self, channels: set[str]) -> None:
        """Log the map and the latched messages again on those of ``channels`` that carry them.

        ``channels`` are fully qualified names (the clients' and the recording's).
        """
        if self._resolved['view/warehouse'] in channels:
            self._log_scene(self._static, 'view/warehouse')
        for topic, raw in list(self._latched.items()):
            if self._resolved[topic] in channels:
                self._channels[topic].log(raw)

    def _every_second(self) -> None:
        # Clients that subscribed since the last second get the map and latched topics; a
        # recording is flushed.
        self._resend(self._watchers.take_fresh())
        with self._lock:
            if self._writer is not None:
                self._writer.flush()
        self._update_camera()

    def _update_camera(self) -> None:
        camera = self._camera
        if camera is None:
            return
        with self._camera_lock:
            self._switch_camera(camera)

    def _switch_camera(self, camera: Bridged) -> None:
        watched = self._watchers.count.get(self._resolved[camera.topic], 0) > 0
        wanted = watched or self._recording is not None
        if wanted and self._camera_sub is None:
            self._camera_sub = self.create_subscription(
                camera.msg, camera.topic, self._forwarder(camera), camera.qos, raw=True)
        elif not wanted and self._camera_sub is not None:
            self.destroy_subscription(self._camera_sub)
            self._camera_sub = None

    def destroy_node(self) -> None:
        """Finish a recording and stop the server before the node goes."""
        self.stop_recording()
        if self.server is not None:
            self.server.stop()
            self.server = None
        super().destroy_node()


def add_view(runner: Any, world: World, live: bool = False, port: int = DEFAULT_PORT,
             name: str = NODE_NAME) -> ViewNode:
    """Add a view node to an in-process NodeRunner: a recorder, and a live view if ``live``."""
    from rclpy.parameter import Parameter

    return runner.add(ViewNode(world=world, name=name, context=runner.context,
                               parameter_overrides=[Parameter('live', value=live),
                                                    Parameter('port', value=port)]))


def main(argv: list[str] | None = None) -> None:
    """Run the view node until Ctrl-C (``view_node``, ``codeact-robot view``)."""
    import argparse
    import sys

    import rclpy
    from rclpy.parameter import Parameter

    from codeact_robot.nodes.runner import spin_until_shutdown

    parser = argparse.ArgumentParser(
        prog='codeact-robot view', allow_abbrev=False,
        description='Serve a running robot to the Foxglove app and/or record it to MCAP.',
        epilog='All parameters: --ros-args -p name:=value (world, live, host, port, record, '
               'image_rate, scene_rate)')
    parser.add_argument('--world', help='world drawn as the scene (name or path)')
    parser.add_argument('--port', type=int, help=f'WebSocket port (default {DEFAULT_PORT})')
    parser.add_argument('--record', help='record to this MCAP file until Ctrl-C')
    parser.add_argument('--no-live', action='store_true', help='record only, no server')
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    overrides = [Parameter(name, value=value) for name, value in (
        ('world', args.world), ('port', args.port), ('record', args.record),
        ('live', False if args.no_live else None)) if value is not None]
    rclpy.init(args=['view_node', *rest])
    spin_until_shutdown(lambda: ViewNode(parameter_overrides=overrides), num_threads=2)


if __name__ == '__main__':
    main()
