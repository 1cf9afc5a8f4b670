"""A planar lidar from MuJoCo ray casts (mj_multiRay) at the lidar site."""

from __future__ import annotations

import mujoco
import numpy as np

from codeact_robot.world.mjcf import (
    GROUP_BOX,
    GROUP_OBSTACLE,
    GROUP_SHELL,
    GROUP_STATIC,
    LIDAR_SITE,
)
from codeact_robot.world.model import LidarSpec


class Lidar:
    """Cast ``spec.rays`` rays in the lidar site's xy plane; the robot's own geoms are unseen."""

    def __init__(self, model: mujoco.MjModel, spec: LidarSpec, site: str = LIDAR_SITE,
                 own_body: int = -1) -> None:
        """Cast from ``site``.

        With ``own_body`` (several robots) the other robots' shells are seen too, this
        robot's own (a geom of ``own_body``) is not.
        """
        self._model = model
        self.spec = spec
        self._site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        self._own_body = own_body
        self._shells = np.zeros(6, dtype=np.uint8)
        self._shells[GROUP_SHELL] = 1
        self._shell_dist = np.zeros(spec.rays, dtype=np.float64)
        self.angle_min, self.angle_max, self.angle_increment = spec.angles()
        angles = self.angle_min + self.angle_increment * np.arange(spec.rays)
        self._local = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
        self._group = np.zeros(6, dtype=np.uint8)
        for group in (GROUP_STATIC, GROUP_BOX, GROUP_OBSTACLE):
            self._group[group] = 1
        self._geomid = np.zeros(spec.rays, dtype=np.int32)
        self._dist = np.zeros(spec.rays, dtype=np.float64)

    def scan(self, data: mujoco.MjData, exclude_body: int, rng: np.random.Generator
             ) -> np.ndarray:
        """Return ranges (float32, metres; inf = nothing within range_max).

        ``exclude_body`` is a body the rays pass through (the held box), or -1.
        """
        spec = self.spec
        rot = data.site_xmat[self._site].reshape(3, 3)
        vec = (self._local @ rot.T).ravel()
        mujoco.mj_multiRay(self._model, data, data.site_xpos[self._site].copy(), vec,
                           self._group, True, exclude_body, self._geomid, self._dist, None,
                           spec.rays, spec.range_max)
        ranges = self._dist.copy()
        if self._own_body >= 0:
            # A second pass for the other robots (one body can be excluded per pass).
            mujoco.mj_multiRay(self._model, data, data.site_xpos[self._site].copy(), vec,
                               self._shells, True, self._own_body, self._geomid,
                               self._shell_dist, None, spec.rays, spec.range_max)
            closer = (self._shell_dist >= 0) & ((ranges < 0) | (self._shell_dist < ranges))
            ranges[closer] = self._shell_dist[closer]
        hit = ranges >= 0
        if spec.noise_std > 0:
            ranges[hit] += rng.normal(0.0, spec.noise_std, int(hit.sum()))
        ranges[~hit | (ranges > spec.range_max)] = np.inf
        # Closer than range_min: a real scanner reports it invalid too.
        ranges[hit & (ranges < spec.range_min)] = -np.inf
        return ranges.astype(np.float32)
