"""DDS settings for runs that must stay on this machine (tests, demos, the embedded simulator).

Fast DDS multicasts discovery on every interface by default. Embedded-simulator runs keep all DDS
traffic on loopback and pick a domain id so parallel runs do not see each other. Users on real
robots choose their own ROS_AUTOMATIC_DISCOVERY_RANGE and ROS_DOMAIN_ID (see README).

Fast DDS also leaves its shared-memory segments in /dev/shm behind when a process ends without
shutting rclpy down (killed, timed out, crashed). Measured on a 2-core machine with 15 such
leftovers: the embedded simulator node ran at 1.7x real time instead of 17x, and integration tests
failed or timed out; ``remove_stale_shared_memory`` clears them before a process starts DDS.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import time
from collections.abc import MutableMapping
from pathlib import Path

_LOG = logging.getLogger(__name__)
SHM_DIR = Path('/dev/shm')


def localhost_only(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set loopback-only discovery and a per-process domain id where the caller set none.

    Must run before rclpy.init() (rmw reads the variables at init).
    """
    env = os.environ if env is None else env
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # 1..101 are the ids whose DDS ports are safe on Linux; random, so concurrent runs rarely meet
    env.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 101)))
    return env


def remove_stale_shared_memory(directory: Path = SHM_DIR, min_age: float = 5.0) -> list[str]:
    """Remove Fast DDS shared-memory segments whose owners are gone; return their names.

    Every live user of a segment holds a lock on its ``<name>_el`` file; a lock file nobody
    holds (and older than ``min_age`` seconds, so a process that is just creating one is left
    alone) marks a segment left by a process that died, and so does a segment whose lock file
    is gone. The check is what Fast DDS's own ``fastdds shm clean`` does; that tool is not in
    the PyPI wheels.
    """
    removed: list[str] = []
    try:
        locks = sorted(directory.glob('fastdds_*_el'))
    except OSError:
        return removed
    now = time.time()
    for lock in locks:
        base = lock.name[:-len('_el')]
        try:
            if now - lock.stat().st_mtime < min_age:
                continue
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue  # gone meanwhile, or not ours to open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live process uses it
        try:
            for name in (base, f'sem.{base}_mutex', lock.name):
                (directory / name).unlink(missing_ok=True)
            removed.append(base)
        except OSError as e:
            _LOG.warning('could not remove stale DDS segment %s: %s', base, e)
        finally:
            os.close(fd)
    removed += _remove_orphans(directory, now - min_age)
    if removed:
        _LOG.info('removed %d stale Fast DDS shared-memory segment(s)', len(removed))
    return removed


def _remove_orphans(directory: Path, older_than: float) -> list[str]:
    """Remove segments whose lock file is gone (seen after killed runs): no one can hold them."""
    removed = []
    for segment in sorted(directory.glob('fastdds_*')):
        name = segment.name
        if name.endswith('_el') or (directory / f'{name}_el').exists():
            continue
        try:
            if segment.stat().st_mtime > older_than:
                continue
            segment.unlink()
            (directory / f'sem.{name}_mutex').unlink(missing_ok=True)
        except OSError:
            continue
        removed.append(name)
    return removed
