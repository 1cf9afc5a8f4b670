"""Draw a recorded episode: ``codeact-robot replay EPISODE.mcap --png [OUT]``.

For a newcomer without the Foxglove app: the recording's path (the simulator's ground truth,
or the robot's own map pose on hardware) over the warehouse map, each agent turn marked
where its code began to run, and the aisles the robot found blocked. ROS-free: the MCAP file
is read with the ``mcap`` library and its ROS 2 messages decoded with ``mcap-ros2-support``.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

TURN_CODE = re.compile(r'^turn (\d+): code')


class RecordingError(ValueError):
    """The file is not a readable recording of an episode."""


@dataclass
class EpisodeTrack:
    """What a recording says of an episode, in map coordinates."""

    #: (log time in ns, x, y) of the robot, in recording order.
    poses: list[tuple[int, float, float]] = field(default_factory=list)
    #: (log time in ns, turn) where each turn's code began to run.
    turns: list[tuple[int, int]] = field(default_factory=list)
    blocked_aisles: list[str] = field(default_factory=list)
    #: (kind, x, y) of each obstacle the simulator had placed, at the end of the recording.
    obstacles: list[tuple[str, float, float]] = field(default_factory=list)
    #: Messages per topic.
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> list[tuple[float, float]]:
        """The robot's positions in order."""
        return [(x, y) for _, x, y in self.poses]

    def turn_marks(self) -> list[tuple[float, float, str]]:
        """Return (x, y, 'turn N') at the robot's position when each turn's code started."""
        marks = []
        for stamp, turn in self.turns:
            before = [p for p in self.poses if p[0] <= stamp] or self.poses[:1]
            if before:
                marks.append((before[-1][1], before[-1][2], f'turn {turn}'))
        return marks


def read_episode(path: Path) -> EpisodeTrack:
    """Read a recording made by the view node (``--record``)."""
    track = EpisodeTrack()
    truth: list[tuple[int, float, float]] = []
    believed: list[tuple[int, float, float]] = []
    try:
        with Path(path).open('rb') as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for _schema, channel, message, msg in reader.iter_decoded_messages():
                name = channel.topic  # namespaced or not: matched by its end
                track.counts[name] = track.counts.get(name, 0) + 1
                t = message.log_time
                if name.endswith('sim/ground_truth'):
                    truth.append((t, msg.robot.x, msg.robot.y))
                    track.obstacles = [(n.split(':', 1)[0], p.position.x, p.position.y)
                                       for n, p in zip(msg.names, msg.poses, strict=True)
                                       if ':' in n]
                elif name.endswith('skills/pose'):
                    believed.append((t, msg.pose.position.x, msg.pose.position.y))
                elif name.endswith('agent/log'):
                    found = TURN_CODE.match(msg.msg)
                    if found:
                        track.turns.append((t, int(found.group(1))))
                elif name.endswith('/diagnostics'):
                    for status in msg.status:
                        for kv in status.values:
                            if kv.key == 'blocked_aisles':
                                track.blocked_aisles = [
                                    a.strip() for a in kv.value.split(',') if a.strip()]
    except OSError as e:
        raise RecordingError(f'cannot read {path}: {e}') from e
    except Exception as e:  # the mcap reader raises several kinds on a file that is not MCAP
        raise RecordingError(f'{path} is not a readable MCAP recording: {e}') from e
    track.poses = sorted(truth or believed)
    if not track.poses:
        raise RecordingError(f'{path} holds no robot pose (sim/ground_truth or skills/pose)')
    return track


def draw(recording: Path, out: Path, world: str = 'warehouse') -> Path:
    """Write a PNG of the recorded episode and return its path."""
    from codeact_robot.path_plot import plot_path
    from codeact_robot.world import Rect, load_world

    track = read_episode(recording)
    world_obj = load_world(world)
    points = _thin(track.path)
    turns = ', '.join(str(turn) for _, turn in track.turns) or 'none'
    obstacles = [Rect.around(x, y, *world_obj.obstacle_kinds[kind].size[:2])
                 for kind, x, y in track.obstacles if kind in world_obj.obstacle_kinds]
    return plot_path(world_obj, points, out, title=f'{Path(recording).name}  (turns: {turns})',
                     obstacles=obstacles, blocked_aisles=track.blocked_aisles,
                     marks=track.turn_marks())


def _thin(points: Sequence[tuple[float, float]], step: float = 0.02) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for p in points:
        if not kept or math.dist(kept[-1], p) >= step:
            kept.append(p)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``codeact-robot replay``."""
    parser = argparse.ArgumentParser(
        prog='codeact-robot replay',
        description='Draw a recorded episode (an .mcap file from --record) over the map.')
    parser.add_argument('recording', type=Path, help='the episode\'s .mcap file')
    parser.add_argument('--png', nargs='?', const='', default=None, metavar='OUT',
                        help='write a PNG (default: beside the recording, .replay.png)')
    parser.add_argument('--world', default='warehouse', help='world the episode ran in')
    args = parser.parse_args(list(argv or []))
    try:
        track = read_episode(args.recording)
    except RecordingError as e:
        parser.exit(2, f'codeact-robot replay: {e}\n')
    for topic, n in sorted(track.counts.items()):
        print(f'{n:7d}  {topic}')
    if args.png is not None:
        out = Path(args.png) if args.png else args.recording.with_suffix('.replay.png')
        print(f'picture: {draw(args.recording, out, args.world)}')
    return 0
