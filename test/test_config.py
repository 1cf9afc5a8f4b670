"""Config files: every node section the launch files use exists, and bad files fail clearly."""

import pytest

from codeact_robot.config import ConfigError, node_parameters


@pytest.mark.parametrize('file,node', [('sim.yaml', 'sim_node'), ('sim.yaml', 'skills_node'),
                                       ('hardware.yaml', 'skills_node'),
                                       ('agent.yaml', 'agent_node')])
def test_shipped_config_has_the_node_section(file, node):
    params = node_parameters(file, node)
    assert params, f'{file} has an empty {node} section'


def test_missing_section_and_bad_yaml_are_clear_errors(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('agent_node: [unclosed')
    with pytest.raises(ConfigError, match='not valid YAML'):
        node_parameters(bad, 'agent_node')
    other = tmp_path / 'other.yaml'
    other.write_text('sim_node:\n  ros__parameters:\n    seed: 3\n')
    assert node_parameters(other, 'sim_node') == {'seed': 3}
    with pytest.raises(ConfigError, match='no "agent_node: ros__parameters:" section'):
        node_parameters(other, 'agent_node')


def test_a_file_without_the_node_section_leaves_defaults_but_a_missing_file_is_an_error(
        tmp_path):
    from codeact_robot.nodes.bringup import _overrides
    from codeact_robot.resources import ResourceNotFoundError

    other = tmp_path / 'other.yaml'
    other.write_text('sim_node:\n  ros__parameters:\n    seed: 3\n')
    assert node_parameters(other, 'skills_node', section_required=False) == {}
    assert [p.name for p in _overrides(str(other), 'skills_node', {'world': 'x'})] == ['world']
    with pytest.raises(ResourceNotFoundError, match='config/simm.yaml not found'):
        _overrides('simm.yaml', 'skills_node', {})
