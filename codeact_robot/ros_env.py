"""DDS settings for runs that must stay on this machine (tests, demos, the embedded simulator).

Fast DDS multicasts discovery on every interface by default. Embedded-simulator runs keep all DDS
traffic on loopback and pick a domain id so parallel runs do not see each other. Users on real
robots choose their own ROS_AUTOMATIC_DISCOVERY_RANGE and ROS_DOMAIN_ID (see README).
"""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping


def localhost_only(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set loopback-only discovery and a per-process domain id where the caller set none.

    Must run before rclpy.init() (rmw reads the variables at init).
    """
    env = os.environ if env is None else env
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    # 1..101 are the ids whose DDS ports are safe on Linux; random, so concurrent runs rarely meet
    env.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 101)))
    return env
