"""Watching the robot: ros2msg definitions, the scene, the live view, recordings and replay.

Most tests are ROS-free. One starts the embedded robot with the live view and recording on,
watches an episode (replay backend) through a Foxglove WebSocket client as the app would
connect (``view.client.ViewClient``: subprotocol foxglove.sdk.v1, every channel subscribed,
each message decoded with its advertised ros2msg schema), then opens the recording with the
``mcap`` reader and draws it.
"""

import json
import math
import time
from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap.records import Schema
from mcap_ros2.decoder import DecoderFactory

from codeact_robot.view import ros2msg, scene
from codeact_robot.view.client import ViewClient
from codeact_robot.view.replay import RecordingError, read_episode
from codeact_robot.world import load_world
from codeact_robot.world.frames import LASER_FRAME

FAKE_MSGS = {
    ('pkg', 'Outer'): 'Header header  # ROS 1 spelling\nInner[] items\nint8 KIND=3\n'
                      'string<=8 name\nother/Leaf[2] leaves\n',
    ('pkg', 'Inner'): 'float64 x\nother/Leaf leaf\n',
    ('other', 'Leaf'): '# a comment line\nuint8[<=4] bytes\n',
    ('std_msgs', 'Header'): 'builtin_interfaces/Time stamp\nstring frame_id\n',
    ('builtin_interfaces', 'Time'): 'int32 sec\nuint32 nanosec\n',
}


def test_definition_lists_every_used_type_once_after_the_main_text():
    text = ros2msg.definition('pkg/msg/Outer', read=lambda p, n: FAKE_MSGS[(p, n)])
    assert text.startswith(FAKE_MSGS[('pkg', 'Outer')])
    sections = [line for line in text.splitlines() if line.startswith('MSG: ')]
    assert sections == ['MSG: std_msgs/Header', 'MSG: pkg/Inner', 'MSG: other/Leaf',
                        'MSG: builtin_interfaces/Time']
    assert text.count(ros2msg.SEPARATOR) == 4


def test_used_types_skips_primitives_constants_and_bounds():
    assert ros2msg.used_types(FAKE_MSGS[('pkg', 'Outer')], 'pkg') == [
        'std_msgs/Header', 'pkg/Inner', 'other/Leaf']


def test_installed_definitions_decode_a_real_message():
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import LaserScan

    name = ros2msg.type_name_of(LaserScan)
    assert name == 'sensor_msgs/msg/LaserScan'
    schema = Schema(id=1, name=name, encoding='ros2msg',
                    data=ros2msg.definition(name).encode())
    decode = DecoderFactory().decoder_for('cdr', schema)
    msg = LaserScan(angle_min=-1.5, ranges=[1.0, 2.5])
    msg.header.frame_id = 'lidar_link'
    decoded = decode(serialize_message(msg))
    assert decoded.header.frame_id == 'lidar_link' and list(decoded.ranges) == [1.0, 2.5]


def test_a_missing_type_names_where_it_looked():
    with pytest.raises(ros2msg.MessageDefinitionError, match='no_such_msgs/msg/Nothing'):
        ros2msg.definition('no_such_msgs/msg/Nothing')


def test_static_scene_draws_every_wall_shelf_zone_and_place():
    world = load_world('warehouse')
    shapes = scene.static_scene(world)
    by_ns = {}
    for s in shapes:
        by_ns.setdefault(s.ns, []).append(s)
    assert len(by_ns['walls']) == len(world.walls)
    assert len(by_ns['shelves']) == 2 * len(world.shelves)  # rack and ledge
    assert len(by_ns['keep_out']) == len(world.keep_out)
    assert {s.text for s in by_ns['places']} == set(world.places)
    assert len({(s.ns, s.id) for s in shapes}) == len(shapes)  # ids name each shape


def test_objects_from_ground_truth_keep_box_colour_and_skip_unknown_names():
    world = load_world('warehouse')
    box = world.boxes[0]
    kind = next(iter(world.obstacle_kinds))
    shapes = scene.objects(world, [box.name, f'{kind}:pallet_1', 'mystery'],
                           [(1.0, 2.0, 0.3, 0.5), (3.0, 4.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)])
    assert [(s.ns, s.x, s.y) for s in shapes] == [('boxes', 1.0, 2.0), ('obstacles', 3.0, 4.0)]
    assert shapes[0].rgba == box.rgba and shapes[0].yaw == 0.5


def test_replay_refuses_a_file_that_is_not_a_recording(tmp_path):
    bad = tmp_path / 'notes.mcap'
    bad.write_text('not an mcap file')
    with pytest.raises(RecordingError, match='not a readable MCAP recording'):
        read_episode(bad)
    with pytest.raises(RecordingError, match='cannot read'):
        read_episode(tmp_path / 'missing.mcap')


# -- the live view and a recording, with the real robot stack ---------------------------------

def _yaw(q) -> float:
    return 2.0 * math.atan2(q.z, q.w)


def _compose(parent, child):
    """parent (x, y, yaw) then child (x, y, yaw) in the parent's frame."""
    x, y, yaw = parent
    return (x + child[0] * math.cos(yaw) - child[1] * math.sin(yaw),
            y + child[0] * math.sin(yaw) + child[1] * math.cos(yaw), yaw + child[2])


def _latest_transform(tf_messages, parent: str, child: str):
    for msg in reversed(tf_messages):
        for t in msg.transforms:
            if t.header.frame_id == parent and t.child_frame_id == child:
                tr = t.transform
                return (tr.translation.x, tr.translation.y, _yaw(tr.rotation))
    raise AssertionError(f'no {parent} -> {child} on /tf')


@pytest.mark.ros
@pytest.mark.slow
def test_live_view_shows_the_episode_and_the_recording_replays_it(tmp_path):
    import cv2
    import numpy as np

    from codeact_robot.session import RobotSession, SessionOptions

    script = tmp_path / 'script.yaml'
    script.write_text("- |\n  ```python\n  print(get_pose())\n  move(0.8)\n  ```\n"
                      "- |\n  ```python\n  p = get_pose()\n  move_to(p.x - 0.4, p.y)\n  ```\n"
                      "- |\n  ```python\n  done('moved 0.8 m and back 0.4 m')\n  ```\n")
    options = SessionOptions(backend='replay', replay=script, runs_dir=tmp_path / 'runs',
                             real_time_factor=2.0, view=True, view_port=0, record=True)
    with RobotSession(options) as session:
        client = ViewClient(session.view.port)
        try:
            # Everything the robot publishes at rest, and the scene, before the episode.
            client.wait_for(['/view/warehouse', '/view/objects', '/tf', '/tf_static', '/scan',
                             '/odom', '/skills/pose', '/sim/ground_truth',
                             '/camera/image_raw'], timeout=30)
            outcome = session.run('move forward 0.8 m')
            time.sleep(1.5)  # the robot at rest, one more round of every topic
            received = {topic: list(msgs) for topic, msgs in client.received.items()}
        finally:
            client.close()
    assert outcome.success, outcome.failure_reason

    # Log: each turn's code and its result, as the model wrote and the robot answered.
    logs = [m.msg for m in received['/agent/log']]
    assert any(text.startswith('turn 1: code') and 'move(0.8)' in text for text in logs), logs
    assert any(text.startswith('turn 3: code') and 'done(' in text for text in logs), logs
    # Scene: the warehouse map and the moving objects, the robot where the simulator has it.
    truth = received['/sim/ground_truth'][-1].robot
    static = received['/view/warehouse'][-1].markers
    assert {m.ns for m in static} >= {'walls', 'shelves', 'stations', 'keep_out', 'places'}
    robot = next(m for m in received['/view/objects'][-1].markers if m.ns == 'robot')
    assert math.dist((robot.pose.position.x, robot.pose.position.y),
                     (truth.x, truth.y)) < 0.1
    assert any(m.ns == 'path_driven' for m in received['/view/objects'][-1].markers)
    # Frames: map -> odom -> base_link composes to the robot's true pose; the robot moved.
    map_odom = _latest_transform(received['/tf'], 'map', 'odom')
    odom_base = _latest_transform(received['/tf'], 'odom', 'base_link')
    x, y, _ = _compose(map_odom, odom_base)
    assert math.dist((x, y), (truth.x, truth.y)) < 0.1, ((x, y), truth)
    start = received['/sim/ground_truth'][0].robot
    assert max(math.dist((start.x, start.y), (m.robot.x, m.robot.y))
               for m in received['/sim/ground_truth']) > 0.6
    # Scan and camera image: the sensors' own messages, unchanged.
    scan = received['/scan'][-1]
    assert scan.header.frame_id == LASER_FRAME and len(scan.ranges) > 100
    image = received['/camera/image_raw'][-1]
    assert image.width * image.height * 3 == len(image.data) and image.encoding == 'rgb8'
    assert '/plan' in received and len(received['/plan'][-1].poses) >= 2

    # The recording: beside the transcript, every channel in it, each decoding as ROS 2.
    recording = outcome.recording
    assert recording == outcome.transcript.with_suffix('.mcap') and recording.exists()
    with recording.open('rb') as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        profile = reader.get_header().profile
        summary = reader.get_summary()
        counts = {summary.channels[cid].topic: n
                  for cid, n in summary.statistics.channel_message_counts.items()}
        decoded = {}
        for _schema, channel, _message, msg in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append(msg)
    assert profile == 'ros2'
    for topic in ('/odom', '/scan', '/tf', '/tf_static', '/camera/image_raw', '/agent/log',
                  '/view/warehouse', '/view/objects', '/sim/ground_truth', '/plan'):
        assert counts.get(topic, 0) >= 1, (topic, counts)
        assert len(decoded[topic]) == counts[topic]
    assert counts['/odom'] > 10 * counts['/camera/image_raw']  # the camera at a lower rate
    assert all(s.encoding == 'ros2msg' for s in summary.schemas.values())

    # Replay: the picture of the recording, the path drawn and the turns marked.
    from codeact_robot.view.replay import main as replay

    out = tmp_path / 'episode.png'
    assert replay([str(recording), '--png', str(out)]) == 0
    track = read_episode(recording)
    assert [turn for _, turn in track.turns] == [1, 2, 3]
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[0] > 300
    path_bgr = (0xc0, 0x65, 0x15)  # the path's colour, #1565c0
    assert (np.abs(picture.astype(int) - path_bgr).max(axis=2) < 30).sum() > 100
    assert Path(out).stat().st_size > 10_000


def test_the_layout_shows_only_channels_the_view_serves():
    from codeact_robot.nodes.view_node import bridged_topics

    layout = json.loads((Path(__file__).parents[1] / 'config' / 'foxglove_layout.json')
                        .read_text(encoding='utf-8'))
    served = {'/' + b.topic.lstrip('/') for b in bridged_topics()} | {
        '/view/warehouse', '/view/objects'}
    panels = layout['configById']
    shown = set(panels['3D!warehouse']['topics']) | {
        panels['Image!camera']['imageMode']['imageTopic'], panels['Log!agent']['topicToRender'],
        panels['RawMessages!events']['topicPath']}
    assert shown <= served, shown - served

    def leaves(node):
        return [node] if isinstance(node, str) else leaves(node['first']) + leaves(
            node['second'])
    assert sorted(leaves(layout['layout'])) == sorted(panels)
