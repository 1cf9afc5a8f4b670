"""log_at: one rclpy logging line may carry any severity chosen at run time."""

from __future__ import annotations

import rclpy.logging

from codeact_robot.nodes.ros_log import log_at


def test_one_call_site_logs_at_several_severities():
    logger = rclpy.logging.get_logger('log_at_test')
    for level in ('info', 'warning', 'error', 'info', 'warning'):
        log_at(logger, level, f'a {level} line')  # getattr(logger, level)(...) raised here
