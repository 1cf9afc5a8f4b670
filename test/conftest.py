"""Suite-wide setup: DDS on loopback only, headless rendering, and a domain id per run."""

import os

from codeact_robot.ros_env import localhost_only

localhost_only()
os.environ.setdefault('MUJOCO_GL', 'egl')


def pytest_report_header(config):
    """Say which DDS domain this run uses (a run that meets another graph shows it)."""
    return (f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}")
