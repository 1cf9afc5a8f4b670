"""Find the files this package ships (world descriptions, scenarios, config, launch).

They live in the top-level sim/, config/ and launch/ folders of the repository and are installed to
share/codeact_robot/ by setup.py. An editable install (make setup) reads them from the source tree;
a colcon or pip install reads them from the share directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = 'codeact_robot'
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


class ResourceNotFoundError(FileNotFoundError):
    """A shipped file is missing: the package is not installed completely."""


def _share_roots() -> list[Path]:
    roots = [_SOURCE_ROOT] if (_SOURCE_ROOT / 'package.xml').is_file() else []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            roots.append(Path(get_package_share_directory(PACKAGE)))
        except (PackageNotFoundError, OSError):
            pass  # not installed in an ament index, or no AMENT_PREFIX_PATH (plain venv)
    except ImportError:
        pass
    roots.append(Path(sys.prefix) / 'share' / PACKAGE)
    return roots


def share_path(*parts: str) -> Path:
    """Return the path of a shipped file or folder, given as parts: 'sim', 'worlds', ..."""
    for root in _share_roots():
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    searched = ', '.join(str(r) for r in _share_roots())
    raise ResourceNotFoundError(f'{"/".join(parts)} not found in {searched}')
