"""Keep the simulator's safety-relevant streams at rate on a loaded machine: degrade the camera.

ROS-free. Odometry, lidar and the clock are what the robot's safety layer watches; a camera
frame costs tens of milliseconds of rendering. When the physics loop falls behind real time,
or rendering would take more than its share of wall time, due camera frames are skipped (the
camera's rate drops) instead of the whole simulation slowing down. A frame is still rendered
at least every ``min_interval`` seconds, so perception keeps working.
"""

from __future__ import annotations

import math


class CameraThrottle:
    """Decide, per due camera frame, whether to render it."""

    def __init__(self, max_share: float = 0.35, max_lag: float = 0.02,
                 min_interval: float = 1.0) -> None:
        """Render at most ``max_share`` of wall time, none while ``max_lag`` s behind."""
        if not 0.0 < max_share <= 1.0:
            raise ValueError(f'max_share must be in (0, 1], got {max_share}')
        self.max_share = max_share
        self.max_lag = max_lag
        self.min_interval = min_interval
        self.cost = 0.0  # moving average of one frame's render time (s, wall)
        self.rendered = 0
        self.skipped = 0
        self._last: float | None = None

    def should_render(self, wall_now: float, lag: float | None) -> bool:
        """Return True to render the due frame.

        Args:
            wall_now: Monotonic wall time (s).
            lag: Wall seconds the physics loop is behind real time (None: not paced, e.g.
                real_time_factor 0, where every frame is rendered).
        """
        if lag is None or self._last is None or wall_now - self._last >= self.min_interval:
            return True
        behind = lag > self.max_lag
        too_costly = wall_now - self._last < self.cost / self.max_share
        if behind or too_costly:
            self.skipped += 1
            return False
        return True

    def done(self, wall_start: float, wall_end: float) -> None:
        """Record one rendered frame and how long it took."""
        took = max(0.0, wall_end - wall_start)
        self.cost = took if self.rendered == 0 else 0.8 * self.cost + 0.2 * took
        self.rendered += 1
        self._last = wall_end


class RestMode:
    """Decide when the simulated robot is at rest, so its sensor streams can slow down.

    While the agent's model writes code the robot stands still and nobody commands it; the
    simulator then publishes odometry, scan and clock at lower rates (still well inside the
    safety layer's staleness limits) and gives its CPU share back to the model. The first
    non-zero velocity command wakes it: full rates from the next physics iteration on.
    """

    def __init__(self, enabled: bool = False, after: float = 2.0, speed: float = 0.01) -> None:
        """Rest after ``after`` s of sim time without a moving command, below ``speed``."""
        if after < 0.0:
            raise ValueError(f'after must be >= 0, got {after}')
        self.enabled = enabled
        self.after = after
        self.speed = speed
        self._last_motion = -math.inf
        self.resting = False
        self.wakeups = 0

    def command(self, t: float, linear: float, angular: float) -> bool:
        """Take a velocity command applied at sim time ``t``; return True if it woke the robot."""
        if abs(linear) <= 1e-9 and abs(angular) <= 1e-9:
            return False
        self._last_motion = t
        if self.resting:
            self.resting = False
            self.wakeups += 1
            return True
        return False

    def update(self, t: float, v: float, w: float) -> bool:
        """Return whether the robot rests at sim time ``t`` with measured twist (v, w)."""
        still = abs(v) < self.speed and abs(w) < self.speed
        self.resting = self.enabled and still and t - self._last_motion >= self.after
        return self.resting
