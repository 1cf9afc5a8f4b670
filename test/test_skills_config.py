"""config/{sim,hardware}.yaml skills_node sections: every key is a declared, in-range parameter."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter

from codeact_robot.config import node_parameters
from codeact_robot.nodes.skills_node import SkillsNode

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('file', ['sim.yaml', 'hardware.yaml'])
def test_config_keys_are_declared_parameters_within_their_ranges(file):
    params = node_parameters(file, 'skills_node')
    ctx = Context()
    rclpy.init(context=ctx)
    try:
        # Out-of-range values would make the declaration raise here.
        node = SkillsNode(context=ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in params.items()])
        try:
            undeclared = [k for k in params if not node.has_parameter(k)]
            assert undeclared == []
            for key, value in params.items():
                got = node.get_parameter(key).value
                assert got == pytest.approx(value) if isinstance(value, float) else got == value
                assert node.describe_parameter(key).description, key
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


def test_out_of_range_limit_is_refused_at_startup():
    ctx = Context()
    rclpy.init(context=ctx)
    try:
        with pytest.raises(rclpy.exceptions.InvalidParameterValueException):
            SkillsNode(context=ctx, parameter_overrides=[Parameter('max_linear_speed', value=9.0)])
    finally:
        rclpy.try_shutdown(context=ctx)
