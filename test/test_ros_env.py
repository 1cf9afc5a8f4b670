"""DDS environment helpers: loopback-only settings and stale Fast DDS shared memory."""

from __future__ import annotations

import fcntl
import os
import time

from codeact_robot.ros_env import localhost_only, remove_stale_shared_memory


def _segment(directory, base: str, age: float) -> None:
    for name in (base, f'{base}_el', f'sem.{base}_mutex'):
        path = directory / name
        path.write_bytes(b'')
        then = time.time() - age
        os.utime(path, (then, then))


def test_only_segments_nobody_holds_and_old_enough_are_removed(tmp_path):
    _segment(tmp_path, 'fastdds_dead', age=60.0)
    _segment(tmp_path, 'fastdds_port7001', age=60.0)   # dead too: a port nobody listens on
    _segment(tmp_path, 'fastdds_live', age=60.0)
    _segment(tmp_path, 'fastdds_young', age=0.0)       # maybe a process creating it right now
    _segment(tmp_path, 'fastdds_port7003', age=60.0)   # its lock file is gone: an orphan
    (tmp_path / 'fastdds_port7003_el').unlink()
    (tmp_path / 'other_file').write_bytes(b'')
    held = os.open(tmp_path / 'fastdds_live_el', os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_SH)  # what a live participant holds
    try:
        removed = remove_stale_shared_memory(tmp_path, min_age=5.0)
    finally:
        os.close(held)
    assert sorted(removed) == ['fastdds_dead', 'fastdds_port7001', 'fastdds_port7003']
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ['fastdds_live', 'fastdds_live_el', 'fastdds_young', 'fastdds_young_el',
                    'other_file', 'sem.fastdds_live_mutex', 'sem.fastdds_young_mutex']


def test_a_missing_directory_is_no_error(tmp_path):
    assert remove_stale_shared_memory(tmp_path / 'absent') == []


def test_localhost_only_keeps_what_the_user_set():
    env = {'ROS_DOMAIN_ID': '7'}
    localhost_only(env)
    assert env == {'ROS_DOMAIN_ID': '7', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
    fresh: dict[str, str] = {}
    localhost_only(fresh)
    assert 1 <= int(fresh['ROS_DOMAIN_ID']) <= 101
