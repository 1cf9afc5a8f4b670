"""Offscreen RGB-D rendering of the robot's camera: one render, colour and depth read back."""

from __future__ import annotations

import mujoco
import numpy as np

from codeact_robot.world.mjcf import (
    CAMERA_NAME,
    GROUP_BOX,
    GROUP_MARKING,
    GROUP_OBSTACLE,
    GROUP_STATIC,
    OFFSCREEN,
)


class RenderError(RuntimeError):
    """The OpenGL context or the offscreen render failed."""


class RgbdCamera:
    """Render the model's robot camera into RGB (uint8) and depth (float32 metres) images.

    The OpenGL context is bound to the thread that first renders; render from one thread.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int,
                 camera: str = CAMERA_NAME) -> None:
        if not (0 < width <= OFFSCREEN[0] and 0 < height <= OFFSCREEN[1]):
            raise ValueError(f'camera size {width}x{height} exceeds {OFFSCREEN[0]}x{OFFSCREEN[1]}')
        self._model = model
        self.width, self.height = width, height
        self._cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        self._gl: mujoco.GLContext | None = None
        self._ctx: mujoco.MjrContext | None = None
        self._scene = mujoco.MjvScene(model, maxgeom=500)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = self._cam_id
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = 0
        for group in (GROUP_STATIC, GROUP_BOX, GROUP_OBSTACLE, GROUP_MARKING):
            self._option.geomgroup[group] = 1
        self._option.sitegroup[:] = 0
        # Software OpenGL here: shadows, reflections and the skybox cost most and add nothing.
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX, mujoco.mjtRndFlag.mjRND_HAZE):
            self._scene.flags[flag] = 0
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._rgb = np.empty((height, width, 3), dtype=np.uint8)
        self._depth = np.empty((height, width), dtype=np.float32)
        extent = model.stat.extent
        self.near = float(model.vis.map.znear * extent)
        self.far = float(model.vis.map.zfar * extent)

    def _ensure_context(self) -> None:
        if self._ctx is not None:
            return
        if mujoco.GLContext is None:
            raise RenderError('MuJoCo has no OpenGL backend (set MUJOCO_GL=egl)')
        try:
            self._gl = mujoco.GLContext(OFFSCREEN[0], OFFSCREEN[1])
            self._gl.make_current()
            self._ctx = mujoco.MjrContext(self._model, mujoco.mjtFontScale.mjFONTSCALE_100)
        except (RuntimeError, OSError) as e:
            raise RenderError(f'cannot create an offscreen OpenGL context: {e}') from e
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._ctx)
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """Return (rgb HxWx3 uint8, depth HxW float32 metres along the optical axis)."""
        self._ensure_context()
        assert self._gl is not None and self._ctx is not None
        self._gl.make_current()
        mujoco.mjv_updateScene(self._model, data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb, self._depth, self._rect, self._ctx)
        # OpenGL rows start at the bottom; images start at the top.
        rgb = np.flipud(self._rgb).copy()
        zf = np.flipud(self._depth).astype(np.float64)
        # Invert the perspective depth map (mjDEPTH_ZEROFAR: 0 at the far plane).
        n, f = self.near, self.far
        depth = (n * f / (zf * (f - n) + n)).astype(np.float32)
        depth[zf <= 0.0] = np.inf  # nothing before the far plane
        return rgb, depth

    def close(self) -> None:
        """Free the OpenGL resources (call from the rendering thread)."""
        if self._ctx is not None:
            self._ctx.free()
            self._ctx = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None
