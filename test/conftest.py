"""Suite-wide setup: DDS on loopback only, headless rendering, and a domain id per run."""

import os
from pathlib import Path

import pytest

from codeact_robot.ros_env import localhost_only

localhost_only()
os.environ.setdefault('MUJOCO_GL', 'egl')


def pytest_report_header(config):
    """Say which DDS domain this run uses (a run that meets another graph shows it)."""
    return (f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the logs of a failed test's processes (a ('logs', folder) user property)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for key, folder in item.user_properties:
        if key == 'logs':
            for log in sorted(Path(folder).glob('*.log')):
                report.sections.append((f'log {log.name}',
                                        log.read_text(errors='replace')[-4000:]))
