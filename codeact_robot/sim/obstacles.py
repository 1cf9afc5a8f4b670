"""Dynamic obstacles (pallet, forklift, person): pooled mocap bodies placed at runtime.

Obstacles come from a scenario's schedule (at a time, or when the robot enters a zone) or from
``place``/``clear`` calls (the /sim/set_obstacle service). They have collision and the lidar
and camera see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from codeact_robot.world.scenario import ObstacleSpec


class ObstacleError(ValueError):
    """An obstacle request cannot be served (unknown kind, no free slot, unknown name)."""


@dataclass(frozen=True)
class ActiveObstacle:
    """An obstacle standing in the world."""

    name: str
    kind: str
    x: float
    y: float
    yaw: float
    body: str


class ObstacleManager:
    """Own the obstacle slots of a model and the scenario's obstacle schedule."""

    def __init__(self, model: mujoco.MjModel, slots: dict[str, list[str]],
                 schedule: tuple[ObstacleSpec, ...] = ()) -> None:
        self._model = model
        self._mocap: dict[str, int] = {}
        self._park: dict[str, np.ndarray] = {}
        for bodies in slots.values():
            for body in bodies:
                body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
                self._mocap[body] = int(model.body_mocapid[body_id])
                self._park[body] = model.body_pos[body_id].copy()
        self._slots = {kind: list(bodies) for kind, bodies in slots.items()}
        self._active: dict[str, ActiveObstacle] = {}
        self._pending = list(schedule)
        self._to_clear: dict[str, float] = {}

    @property
    def active(self) -> dict[str, ActiveObstacle]:
        """The obstacles standing in the world, by name."""
        return dict(self._active)

    def place(self, data: mujoco.MjData, name: str, kind: str, x: float, y: float,
              yaw: float = 0.0) -> ActiveObstacle:
        """Put (or move) obstacle ``name`` of ``kind`` with its centre at (x, y)."""
        if kind not in self._slots:
            raise ObstacleError(f'unknown obstacle kind {kind!r}; kinds: {sorted(self._slots)}')
        current = self._active.get(name)
        if current is not None and current.kind != kind:
            self.clear(data, name)
            current = None
        if current is not None:
            body = current.body
        else:
            used = {o.body for o in self._active.values()}
            free = [b for b in self._slots[kind] if b not in used]
            if not free:
                raise ObstacleError(f'all {len(self._slots[kind])} {kind} slots are in use')
            body = free[0]
        mocap = self._mocap[body]
        data.mocap_pos[mocap] = (x, y, 0.0)
        data.mocap_quat[mocap] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        obstacle = ActiveObstacle(name, kind, float(x), float(y), float(yaw), body)
        self._active[name] = obstacle
        return obstacle

    def clear(self, data: mujoco.MjData, name: str) -> None:
        """Remove obstacle ``name`` from the world."""
        obstacle = self._active.pop(name, None)
        if obstacle is None:
            raise ObstacleError(f'no obstacle named {name!r}; active: {sorted(self._active)}')
        mocap = self._mocap[obstacle.body]
        data.mocap_pos[mocap] = self._park[obstacle.body]
        data.mocap_quat[mocap] = (1.0, 0.0, 0.0, 0.0)
        self._to_clear.pop(name, None)

    def update(self, data: mujoco.MjData, time: float, robot_x: float,
               robot_y: float) -> list[str]:
        """Fire due scheduled obstacles and clear expired ones; return what changed."""
        events = []
        for spec in list(self._pending):
            if spec.trigger.fired(time, robot_x, robot_y):
                self._pending.remove(spec)
                self.place(data, spec.name, spec.kind, spec.x, spec.y, spec.yaw)
                if spec.clear_at is not None:
                    self._to_clear[spec.name] = spec.clear_at
                events.append(f'placed {spec.kind} {spec.name!r} at ({spec.x:.2f}, {spec.y:.2f})')
        for name, when in list(self._to_clear.items()):
            if time >= when and name in self._active:
                self.clear(data, name)
                events.append(f'cleared {name!r}')
        return events

