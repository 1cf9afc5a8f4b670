"""Both packages are valid ROS 2 packages that colcon finds with the documented command, and
setup.py installs the data folders a ROS install needs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import setuptools  # noqa: F401  (first, so distutils below is setuptools' copy)
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_package_xml_files_parse_and_validate():
    main = parse_package(ROOT / 'package.xml')
    interfaces = parse_package(ROOT / 'codeact_robot_interfaces' / 'package.xml')
    for package in (main, interfaces):
        package.validate()
        assert package.package_format == 3
        assert package.licenses == ['Apache-2.0']
    assert main.get_build_type() == 'ament_python'
    assert interfaces.get_build_type() == 'ament_cmake'
    main_deps = {d.name for d in main.build_depends + main.exec_depends}
    assert {'rclpy', 'codeact_robot_interfaces'} <= main_deps
    assert 'rosidl_interface_packages' in [g.name for g in interfaces.member_of_groups]


def test_colcon_lists_both_packages_with_the_documented_base_paths():
    colcon = shutil.which('colcon', path=str(BIN)) or shutil.which('colcon')
    assert colcon, 'colcon is a test dependency (pip install -e .[test])'
    # The README's command for colcon workspaces: the nested package needs its own base path.
    out = subprocess.run([colcon, '--log-base', os.devnull, 'list', '--base-paths', '.',
                          'codeact_robot_interfaces'],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    packages = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.strip()}
    assert packages == {'codeact_robot': '(ros.ament_python)',
                        'codeact_robot_interfaces': '(ros.ament_cmake)'}
    readme = (ROOT / 'README.md').read_text()
    assert '--base-paths . codeact_robot_interfaces' in readme or \
        '--base-paths <repo> <repo>/codeact_robot_interfaces' in readme


def test_setup_installs_data_folders_and_ament_marker(monkeypatch):
    from distutils.core import run_setup

    monkeypatch.chdir(ROOT)
    dist = run_setup(str(ROOT / 'setup.py'), stop_after='init')
    installed = {target: files for target, files in dist.data_files}
    assert installed['share/ament_index/resource_index/packages'] == ['resource/codeact_robot']
    assert 'package.xml' in installed['share/codeact_robot']
    for folder in ('launch', 'config', 'sim'):
        shipped = {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob('*') if p.is_file()}
        listed = {f for target, files in installed.items()
                  if target.startswith(f'share/codeact_robot/{folder}') for f in files}
        assert shipped and shipped == listed, folder
    scripts = dist.entry_points['console_scripts']
    assert 'codeact-robot = codeact_robot.cli:main' in scripts
