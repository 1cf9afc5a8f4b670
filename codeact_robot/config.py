"""Read node parameters from config/*.yaml: the CLI and `ros2 launch` share one configuration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from codeact_robot.resources import share_path


class ConfigError(ValueError):
    """A config file is missing, malformed or lacks the node's section."""


def node_parameters(file: str | Path, node: str, *,
                    section_required: bool = True) -> dict[str, Any]:
    """Return the ``ros__parameters`` of ``node`` in a ROS 2 parameter file.

    Args:
        file: A path, or a name in the package's config/ folder such as 'agent.yaml'.
        node: The node name, e.g. 'agent_node'.
        section_required: False: a file without a section for ``node`` gives {} (the node's
            declared defaults apply); a missing or invalid file is an error either way.

    Raises:
        ResourceNotFoundError: No such file.
        ConfigError: Not valid YAML, or no section for ``node`` (when required).
    """
    path = Path(file)
    if not path.is_file():
        path = share_path('config', str(file))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f'{path}: not valid YAML: {e}') from e
    section = data.get(node) or data.get(f'/{node}') or data.get('/**')
    if section is None and not section_required:
        return {}
    if not isinstance(section, dict) or not isinstance(section.get('ros__parameters'), dict):
        raise ConfigError(f'{path}: no "{node}: ros__parameters:" section')
    return dict(section['ros__parameters'])


def launch_overrides(given: Mapping[str, str], types: Mapping[str, type]) -> dict[str, Any]:
    """Return the launch arguments a user gave, typed, to pass after a node's parameter file.

    An argument left empty ('') is not an override: the parameter file's value stands, so
    editing config/*.yaml works under `ros2 launch` as it does with the CLI.

    Args:
        given: Launch argument values as strings (``LaunchConfiguration(...).perform(...)``).
        types: The arguments that override parameters of one node, with the parameter type
            (str, int, float or bool).

    Raises:
        ConfigError: A value that is not of its parameter's type.
    """
    out: dict[str, Any] = {}
    for name, kind in types.items():
        text = given.get(name, '').strip()
        if not text:
            continue
        try:
            if kind is bool:
                if text.lower() not in ('true', 'false'):
                    raise ValueError(text)
                out[name] = text.lower() == 'true'
            else:
                out[name] = kind(text)
        except ValueError as e:
            raise ConfigError(f'launch argument {name}:={text} is not a {kind.__name__}') from e
    return out
