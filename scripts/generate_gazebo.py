#!/usr/bin/env python3
"""Generate sim/gazebo/{warehouse.sdf, bridge.yaml, robot.urdf, textures/} from the world.

The world is sim/worlds/warehouse.yaml unless --world names another.

Usage: python scripts/generate_gazebo.py [--world warehouse] [--out sim/gazebo] [--check]
--check exits 1 when the committed files differ from what would be generated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codeact_robot.world import load_world
from codeact_robot.world.markers import face_texture, png_bytes, texture_name
from codeact_robot.world.sdf import TEXTURE_DIR, bridge_config, build_sdf
from codeact_robot.world.urdf import build_urdf

REPO = Path(__file__).resolve().parent.parent


def generated_files(world_name: str) -> dict[str, bytes]:
    """Return {relative path: content} of everything this script writes."""
    world = load_world(world_name)
    files = {f'{world.name}.sdf': build_sdf(world).encode(),
             'bridge.yaml': bridge_config(world).encode(),
             'robot.urdf': build_urdf(world).encode()}
    for box in world.boxes:
        files[f'{TEXTURE_DIR}/{texture_name(box)}'] = png_bytes(face_texture(box))
    return files


def same_content(path: Path, content: bytes) -> bool:
    """Compare a file with generated content; PNGs by pixels (encoders differ in bytes)."""
    if path.suffix != '.png':
        return path.read_bytes() == content
    import cv2
    import numpy as np

    old = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    new = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    return old is not None and old.shape == new.shape and bool((old == new).all())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--world', default='warehouse', help='world name or path')
    parser.add_argument('--out', type=Path, default=REPO / 'sim' / 'gazebo',
                        help='output folder')
    parser.add_argument('--check', action='store_true',
                        help='only compare with the existing files')
    args = parser.parse_args(argv)
    stale = []
    for rel, content in generated_files(args.world).items():
        path = args.out / rel
        if args.check:
            if not path.is_file() or not same_content(path, content):
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        print(f'wrote {path}')
    if stale:
        print('out of date (run scripts/generate_gazebo.py): ' + ', '.join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
