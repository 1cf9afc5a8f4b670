"""The warehouse description (sim/worlds/*.yaml) and scenarios (sim/scenarios/*.yaml).

ROS-free. ``load_world()`` gives places, shelves, aisles, boxes, keep-out zones and an occupancy
grid; ``load_scenario()`` gives the seed, box placements and scheduled obstacles.
"""

from codeact_robot.world.geometry import Mount, Rect
from codeact_robot.world.grid import OccupancyGrid
from codeact_robot.world.model import (
    Aisle,
    Box,
    CameraSpec,
    LidarSpec,
    ObstacleKind,
    RobotSpec,
    Shelf,
    Station,
    Wall,
    World,
    WorldError,
    load_world,
)
from codeact_robot.world.scenario import (
    BoxPlacement,
    ObstacleSpec,
    Scenario,
    Trigger,
    load_scenario,
    obstacle_position,
)

__all__ = [
    'Aisle', 'Box', 'BoxPlacement', 'CameraSpec', 'LidarSpec', 'Mount', 'ObstacleKind',
    'ObstacleSpec', 'OccupancyGrid', 'Rect', 'RobotSpec', 'Scenario', 'Shelf', 'Station',
    'Trigger', 'Wall', 'World', 'WorldError', 'load_scenario', 'load_world', 'obstacle_position',
]
