"""Launch files: every argument described and used, executables and files they name exist.

`launch`/`launch_ros` are not available as PyPI wheels, so the files are checked statically here;
where a ROS 2 install provides `launch`, they are also loaded for real.
"""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))
CONSOLE_SCRIPTS = {'sim_node', 'skills_node', 'agent_node', 'view_node'}


def _declared_arguments(tree: ast.Module) -> dict[str, tuple[str, str]]:
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ('ARGUMENTS', 'TOPICS'):
            for name, default, description in ast.literal_eval(node.value):
                declared[name] = (default, description)
    return declared


def _overrides(tree: ast.Module) -> dict[str, set[str]]:
    """The *_OVERRIDES tables: launch arguments that override a node's parameters if given."""
    return {node.targets[0].id: {key.value for key in node.value.keys}
            for node in tree.body if isinstance(node, ast.Assign)
            and getattr(node.targets[0], 'id', '').endswith('_OVERRIDES')}


def _calls(tree: ast.Module, func_name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == func_name]


def test_all_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} == {
        'sim.launch.py', 'robot.launch.py', 'gazebo.launch.py', 'fleet.launch.py'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_arguments_are_described_and_used(path):
    tree = ast.parse(path.read_text())
    declared = _declared_arguments(tree)
    assert declared, 'arguments are declared from ARGUMENTS/TOPICS tables'
    for name, (_, description) in declared.items():
        assert len(description) > 15 and description.endswith('.'), name
    used = {call.args[0].value for call in _calls(tree, 'LaunchConfiguration')
            if isinstance(call.args[0], ast.Constant)}
    if 'TOPICS' in path.read_text():
        used |= {name for name in declared if declared[name][0].startswith('/')}
    for names in _overrides(tree).values():
        used |= names
    assert used == set(declared), f'declared but unused or used but undeclared in {path.name}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_arguments_that_override_parameters_default_to_the_parameter_file(path):
    # An override argument with a default would always win over the YAML: editing
    # config/*.yaml would then do nothing under ros2 launch.
    tree = ast.parse(path.read_text())
    declared = _declared_arguments(tree)
    for table, names in _overrides(tree).items():
        for name in names:
            assert declared[name][0] == '', f'{path.name}: {table} {name} has a default'
            assert 'empty = ' in declared[name][1], name


def test_launch_overrides_keep_the_file_unless_an_argument_is_given():
    from codeact_robot.config import ConfigError, launch_overrides

    types = {'world': str, 'seed': int, 'real_time_factor': float, 'viewer': bool}
    assert launch_overrides({'world': '', 'seed': '', 'viewer': ''}, types) == {}
    assert launch_overrides({'world': 'depot', 'seed': '7', 'real_time_factor': '0.5',
                             'viewer': 'True', 'model': 'x'}, types) == {
        'world': 'depot', 'seed': 7, 'real_time_factor': 0.5, 'viewer': True}
    with pytest.raises(ConfigError, match='seed:=seven is not a int'):
        launch_overrides({'seed': 'seven'}, types)
    with pytest.raises(ConfigError, match='viewer'):
        launch_overrides({'viewer': 'yes'}, types)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_named_executables_and_files_exist(path):
    tree = ast.parse(path.read_text())
    setup_py = (ROOT / 'setup.py').read_text()
    for call in _calls(tree, 'Node'):
        kwargs = {k.arg: k.value for k in call.keywords}
        if kwargs['package'].value == 'codeact_robot':
            executable = kwargs['executable'].value
            assert executable in CONSOLE_SCRIPTS and f"'{executable} = " in setup_py
    for name, (default, _) in _declared_arguments(tree).items():
        if default.endswith(('.yaml', '.sdf')):
            assert (ROOT / default).is_file(), f'{path.name}: {name} default {default} missing'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_loads_with_ros2_launch_where_installed(path):
    try:
        import launch.actions  # noqa: F401
        import launch_ros.actions  # noqa: F401
    except ImportError:
        pytest.skip('launch/launch_ros are not installed (no PyPI wheels); checked statically')
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.get_launch_arguments()}
    assert names == set(_declared_arguments(ast.parse(path.read_text())))
