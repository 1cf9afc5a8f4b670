"""ament_python package codeact_robot; also installable with plain pip (see README)."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'codeact_robot'
HERE = Path(__file__).parent


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries that install folder/** under share/codeact_robot/folder/**."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(str(Path('share', PACKAGE, rel.parent)), []).append(str(rel))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, PACKAGE + '.*']),
    package_data={PACKAGE: ['prompts/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        *tree('launch'),
        *tree('config'),
        *tree('sim'),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy',
        # The headless build: same cv2 API as opencv-python, without GUI libraries that
        # servers and CI lack. Swap for opencv-python if you want cv2.imshow.
        'opencv-python-headless',
        'mujoco>=3.2',
        'pyyaml',
        'ollama',
        'httpx',  # the OpenAI-compatible backend talks HTTP directly
        'matplotlib',
        # the live view (Foxglove WebSocket server, MCAP writer) and reading recordings back
        'foxglove-sdk>=0.30',
        'mcap',
        'mcap-ros2-support',
        'websockets',  # view.client: watching the live view without the app (tests, bench)
    ],
    extras_require={
        'llama': ['llama-cpp-python>=0.3'],
        'test': [
            'pytest', 'pytest-timeout', 'ruff', 'catkin_pkg',
            # only to check that a colcon workspace finds both packages (test_packaging.py)
            'colcon-core', 'colcon-ros', 'colcon-package-information',
        ],
    },
    zip_safe=True,
    maintainer='codeact_robot maintainers',
    maintainer_email='maintainers@codeact-robot.org',
    description='Plain-language robot commands the CodeAct way, with a watchdog executor.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'codeact-robot = codeact_robot.cli:main',
            'sim_node = codeact_robot.nodes.sim_node:main',
            'skills_node = codeact_robot.nodes.skills_node:main',
            'agent_node = codeact_robot.nodes.agent_node:main',
            'view_node = codeact_robot.nodes.view_node:main',
        ],
    },
)
