"""Suite-wide setup: DDS on loopback only, headless rendering, and a domain id per run."""

import os

from codeact_robot.ros_env import localhost_only

localhost_only()
os.environ.setdefault('MUJOCO_GL', 'egl')
