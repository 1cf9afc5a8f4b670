"""RobotSession helpers that need no robot: the path recorder and the backend configuration."""

import threading
from pathlib import Path

from codeact_robot.api.errors import RobotNotReadyError
from codeact_robot.api.types import Pose
from codeact_robot.nodes.runner import wait_for
from codeact_robot.session import PathRecorder, SessionOptions, _backend_config


class PoseSourceDouble:
    """Test double of the one RobotApi call the recorder makes: fails once, then drives east."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def get_pose(self):
        with self.lock:
            self.calls += 1
            if self.calls == 1:
                raise RobotNotReadyError('no odometry yet')
            return Pose(x=0.1 * self.calls, y=2.0, theta=0.0)


def test_path_recorder_survives_a_missing_pose_and_records_motion():
    source = PoseSourceDouble()
    with PathRecorder(source, period=0.01) as recorder:
        wait_for(lambda: len(recorder.points) >= 5, 5.0, 'five recorded points')
    assert recorder.points[0] == (0.2, 2.0)
    xs = [x for x, _ in recorder.points]
    assert xs == sorted(set(xs))


def test_backend_config_merges_the_file_and_the_command_line():
    params = {'backend': 'auto', 'model': 'qwen2.5-coder:1.5b', 'llm_host': '',
              'llm_temperature': 0.0, 'llm_context_size': 4096, 'max_turns': 8}
    config = _backend_config(params, SessionOptions(backend='replay',
                                                    replay=Path('script.yaml')))
    assert config == {'backend': 'replay', 'model': 'qwen2.5-coder:1.5b', 'temperature': 0.0,
                      'context_size': 4096, 'script': Path('script.yaml')}
    config = _backend_config(params, SessionOptions(model='other'))
    assert config['backend'] == 'auto' and config['model'] == 'other' and 'host' not in config
