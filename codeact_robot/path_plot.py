"""Draw a robot's path over the warehouse map (the PNG each `run` episode leaves behind)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use('Agg')  # headless: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from codeact_robot.world import Rect, World  # noqa: E402

BLOCKED_COLOUR = '#f5b041'  # aisles the robot found blocked


def _rect(ax, rect: Rect, **style) -> None:
    ax.add_patch(Rectangle((rect.xmin, rect.ymin), rect.size[0], rect.size[1], **style))


def plot_path(world: World, path: Sequence[tuple[float, float]], out: Path, title: str = '',
              obstacles: Sequence[Rect] = (), blocked_aisles: Sequence[str] = (),
              marks: Sequence[tuple[float, float, str]] = ()) -> Path:
    """Write a PNG of ``path`` (map-frame x, y points) over the world's map and return its path.

    Args:
        world: The world whose walls, shelves, stations, aisles and places are drawn.
        path: The robot's positions in order.
        out: Where to write the PNG (parent folders are created).
        title: Figure title, e.g. the command.
        obstacles: Extra rectangles to draw, e.g. the obstacles the robot met.
        blocked_aisles: Aisles to mark blocked, e.g. what the robot found blocked on the way
            (RobotApi.blocked_aisles() after the episode).
        marks: Labelled points on the path, e.g. where each agent turn's code began.
    """
    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=110)
    b = world.bounds
    blocked = {name.lower() for name in blocked_aisles}
    for aisle in world.aisles:
        if aisle.name.lower() in blocked:
            _rect(ax, aisle.rect, facecolor=BLOCKED_COLOUR, edgecolor='#a04000', hatch='xx',
                  linewidth=0.8)
            label, colour = f'{aisle.name}: blocked', '#803000'
        else:
            _rect(ax, aisle.rect, facecolor='#eef3fb', edgecolor='none')
            label, colour = aisle.name, '#8aa0c0'
        ax.text(*aisle.rect.center, label, ha='center', va='center', color=colour, fontsize=8)
    for zone in world.keep_out:
        _rect(ax, zone.rect, facecolor='#f8d7d7', edgecolor='#c44', hatch='//', linewidth=0.8)
    for wall in world.walls:
        _rect(ax, wall.rect, facecolor='#444', edgecolor='none')
    for shelf in world.shelves:
        _rect(ax, shelf.rect, facecolor='#b08d57', edgecolor='#6b5330')
        ax.text(*shelf.rect.center, shelf.label, ha='center', va='center', fontsize=7,
                color='white')
    for station in world.stations:
        _rect(ax, station.rect, facecolor='#7a9', edgecolor='#354')
    for rect in obstacles:
        _rect(ax, rect, facecolor='#e08030', edgecolor='#803010', alpha=0.8)
    for box in world.boxes:
        s = box.size
        _rect(ax, Rect.around(box.x, box.y, s, s), facecolor=box.rgba[:3], edgecolor='black',
              linewidth=0.5)
    for name, place in world.places.items():
        if place.kind != 'aisle':
            ax.plot(place.x, place.y, marker='x', color='#555', markersize=4)
            ax.annotate(name, (place.x, place.y), textcoords='offset points', xytext=(3, 3),
                        fontsize=6, color='#555')
    if path:
        xs, ys = zip(*path, strict=True)
        ax.plot(xs, ys, color='#1565c0', linewidth=1.8, label='robot path')
        ax.plot(xs[0], ys[0], 'o', color='#2e7d32', label='start')
        ax.plot(xs[-1], ys[-1], 's', color='#c62828', label='end')
    for x, y, label in marks:
        ax.plot(x, y, 'o', color='#ffb300', markeredgecolor='black', markersize=7)
        ax.annotate(label, (x, y), textcoords='offset points', xytext=(5, -10), fontsize=7,
                    fontweight='bold', color='#6d4c00')
    if path:
        ax.legend(loc='upper right', fontsize=7)
    ax.set_xlim(b.xmin - 0.3, b.xmax + 0.3)
    ax.set_ylim(b.ymin - 0.3, b.ymax + 0.3)
    ax.set_aspect('equal')
    ax.set_xlabel('x [m]')
    ax.set_ylabel('y [m]')
    ax.set_title(title or world.name, fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
