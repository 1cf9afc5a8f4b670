"""Maps in the map_server format (a YAML file and a PGM/PNG image), read and written.

A robot that was mapped with slam_toolbox or cartographer has its map as ``map.yaml`` +
``map.pgm``; the skills node's ``map_yaml`` parameter plans and localizes on it instead of the
grid rasterized from the world description (which still names the places, aisles and keep-out
zones). Unknown cells count as occupied: nothing plans a route through space nobody has seen.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from codeact_robot.world.grid import OccupancyGrid


class MapFileError(ValueError):
    """A map YAML or its image is missing or not a map_server map this robot can use."""


def load_map_yaml(path: str | Path) -> OccupancyGrid:
    """Return the occupancy grid of a map_server map (``mode: trinary`` or ``scale``).

    Raises:
        MapFileError: Missing files, missing keys, a rotated origin or an unreadable image.
    """
    path = Path(path).expanduser()
    try:
        meta = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise MapFileError(f'{path}: cannot read the map: {e}') from e
    missing = [k for k in ('image', 'resolution', 'origin') if k not in meta]
    if missing:
        raise MapFileError(f'{path}: map YAML lacks {", ".join(missing)}')
    resolution = float(meta['resolution'])
    origin = [float(v) for v in meta['origin']]
    if resolution <= 0 or len(origin) != 3:
        raise MapFileError(f'{path}: resolution must be > 0 and origin [x, y, yaw]')
    if abs(origin[2]) > 1e-9:
        raise MapFileError(f'{path}: a rotated map origin (yaw {origin[2]}) is not supported')
    if meta.get('mode', 'trinary') not in ('trinary', 'scale'):
        raise MapFileError(f'{path}: mode {meta["mode"]!r} is not supported (trinary, scale)')
    image_path = (path.parent / str(meta['image'])).resolve()
    image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise MapFileError(f'{path}: cannot read the image {image_path}')
    shade = image.astype(float) / 255.0
    occupancy = shade if int(meta.get('negate', 0)) else 1.0 - shade
    occupied_thresh = float(meta.get('occupied_thresh', 0.65))
    free_thresh = float(meta.get('free_thresh', 0.25))
    blocked = occupancy > free_thresh  # occupied, or unknown between the thresholds
    if not 0.0 <= free_thresh < occupied_thresh <= 1.0:
        raise MapFileError(f'{path}: need 0 <= free_thresh < occupied_thresh <= 1')
    # Image row 0 is the top of the map (largest y); grid rows go along +y.
    return OccupancyGrid(np.flipud(blocked).copy(), (origin[0], origin[1]), resolution)


def save_map_yaml(grid: OccupancyGrid, path: str | Path) -> Path:
    """Write ``grid`` as ``path`` (YAML) with a PGM beside it, as map_saver does; return path."""
    path = Path(path)
    image = path.with_suffix('.pgm')
    pixels = np.where(np.flipud(grid.occupied), 0, 254).astype(np.uint8)
    if not cv2.imwrite(str(image), pixels):
        raise MapFileError(f'cannot write {image}')
    path.write_text(yaml.safe_dump({
        'image': image.name, 'mode': 'trinary', 'resolution': float(grid.resolution),
        'origin': [float(grid.origin[0]), float(grid.origin[1]), 0.0], 'negate': 0,
        'occupied_thresh': 0.65, 'free_thresh': 0.25}, sort_keys=False))
    return path

