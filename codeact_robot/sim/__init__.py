"""The embedded MuJoCo warehouse simulator (ROS-free core; nodes/sim_node.py is the ROS shell).

Headless rendering defaults to EGL; set MUJOCO_GL before importing this package to change it.
"""

import os

# MuJoCo picks its OpenGL backend when it is first imported.
os.environ.setdefault('MUJOCO_GL', 'egl')

from codeact_robot.sim.warehouse_sim import (  # noqa: E402
    GripperStatus,
    GroundTruthState,
    LaserScanData,
    OdometryData,
    SimError,
    WarehouseSim,
)

__all__ = ['GripperStatus', 'GroundTruthState', 'LaserScanData', 'OdometryData', 'SimError',
           'WarehouseSim']
