"""ROS 2 message definitions in the `ros2msg` text that MCAP files and Foxglove expect.

A recorded or streamed ROS 2 channel carries its type's definition: the type's own ``.msg``
text, then every type it uses, each after a separator line and ``MSG: package/Type`` (the
format rosbag2 writes and ``mcap-ros2-support`` and the Foxglove app read). The ``.msg`` files
come from the ROS install prefixes (``AMENT_PREFIX_PATH``, and this interpreter's prefix, where
the PyPI wheels and the project's interface packages install them).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

SEPARATOR = '=' * 80

#: Field types that are not messages.
PRIMITIVES = frozenset({
    'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16',
    'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring',
})

_FIELD = re.compile(r'^\s*([A-Za-z_][\w/]*(?:<=\d+)?(?:\[[^\]]*\])?)\s')


class MessageDefinitionError(LookupError):
    """A type's .msg file (or one it uses) is not installed."""


def prefixes() -> list[Path]:
    """Return the install prefixes searched for ``share/<package>/msg/<Type>.msg``."""
    found = [Path(p) for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    found.append(Path(sys.prefix))
    return found


def msg_file(package: str, name: str, search: Sequence[Path] | None = None) -> Path:
    """Return the path of ``package/msg/name.msg`` in the first prefix that has it."""
    for prefix in search if search is not None else prefixes():
        path = prefix / 'share' / package / 'msg' / f'{name}.msg'
        if path.is_file():
            return path
    raise MessageDefinitionError(
        f'no definition of {package}/msg/{name}: {package}/msg/{name}.msg is in none of '
        f'{[str(p) for p in (search if search is not None else prefixes())]}')


def split_type(type_name: str) -> tuple[str, str]:
    """Split 'sensor_msgs/msg/LaserScan' or 'sensor_msgs/LaserScan' into package and name."""
    parts = type_name.split('/')
    if len(parts) == 3 and parts[1] == 'msg':
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f'not a ROS 2 message type name: {type_name!r} (want pkg/msg/Type)')


def used_types(text: str, package: str) -> list[str]:
    """Return the message types (``pkg/Type``) the fields of a .msg text use, in order."""
    used: list[str] = []
    for line in text.splitlines():
        match = _FIELD.match(line.split('#', 1)[0])
        if not match:
            continue  # blank or comment
        # 'float32[] ranges', 'string<=8 name', 'Point[3] corners'; constants are primitives
        base = re.sub(r'(<=\d+)?(\[[^\]]*\])?$', '', match.group(1))
        if base in PRIMITIVES:
            continue
        if base == 'Header':  # ROS 1 spelling some definitions still accept
            base = 'std_msgs/Header'
        used.append(base if '/' in base else f'{package}/{base}')
    return used


def definition(type_name: str,
               read: Callable[[str, str], str] | None = None) -> str:
    """Return the full ros2msg definition of ``type_name`` ('sensor_msgs/msg/LaserScan').

    Args:
        type_name: The type, as 'pkg/msg/Type' or 'pkg/Type'.
        read: Returns the .msg text of (package, name); by default the installed file.
    """
    read = read or (lambda package, name: msg_file(package, name).read_text(encoding='utf-8'))
    package, name = split_type(type_name)
    main = read(package, name)
    parts = [main.rstrip('\n')]
    seen: set[str] = set()
    queue = used_types(main, package)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        dep_package, dep_name = split_type(dep)
        text = read(dep_package, dep_name)
        parts.append(f'{SEPARATOR}\nMSG: {dep_package}/{dep_name}\n{text.rstrip(chr(10))}')
        queue.extend(used_types(text, dep_package))
    return '\n'.join(parts) + '\n'


def type_name_of(msg_class: type) -> str:
    """Return 'pkg/msg/Type' for a generated rclpy message class."""
    module = msg_class.__module__.split('.')  # e.g. sensor_msgs.msg._laser_scan
    return f'{module[0]}/msg/{msg_class.__name__}'
