"""Sensor monitor: obstacles in the direction of travel, stale odom/scan, the latched e-stop."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Footprint:
    """Rectangular robot outline around base_link: x forward, y left (metres)."""

    front: float
    rear: float
    half_width: float

    @property
    def radius(self) -> float:
        """Return the circumscribed radius."""
        return math.hypot(max(self.front, self.rear), self.half_width)

    def extended(self, front_extra: float) -> Footprint:
        """Return the footprint with its front moved forward (a carried box)."""
        return Footprint(self.front + front_extra, self.rear, self.half_width)

    def inside(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Return a mask of the base-frame points (N x 2) inside the footprint + margin."""
        return ((points[:, 0] <= self.front + margin) & (points[:, 0] >= -self.rear - margin)
                & (np.abs(points[:, 1]) <= self.half_width + margin))


def clearance_ahead(points: np.ndarray, footprint: Footprint, direction: float,
                    side_margin: float = 0.05, max_range: float = 5.0) -> float:
    """Return the free distance in front of (direction > 0) or behind the body.

    Args:
        points: Lidar returns in the base frame (N x 2), without the robot's own body.
        footprint: The body outline.
        direction: Sign of the linear velocity.
        side_margin: Extra width of the swept corridor on each side.
        max_range: Returned when nothing is in the corridor.
    """
    if len(points) == 0 or direction == 0.0:
        return max_range
    xs = points[:, 0] if direction > 0 else -points[:, 0]
    edge = footprint.front if direction > 0 else footprint.rear
    in_lane = (np.abs(points[:, 1]) <= footprint.half_width + side_margin) & (xs > 0.0)
    if not in_lane.any():
        return max_range
    return float(max(0.0, min(max_range, float(np.min(xs[in_lane])) - edge)))


class EStopLatch:
    """A latched emergency stop: set by anyone, cleared only by an explicit reset.

    With a ``state_file`` the latch outlives the process: it is written (fsynced) when the
    latch is set and removed on reset, and a latch found there at start is active again, so a
    restarted skills node does not drive a robot someone stopped.
    """

    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._file = Path(state_file).expanduser() if state_file else None
        if self._file is not None and self._file.exists():
            before = self._file.read_text(encoding='utf-8', errors='replace').strip()
            self._reason = f'latched before a restart: {before or "e-stop"}'

    @property
    def active(self) -> bool:
        """Return True while latched."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Return why it latched, or None."""
        return self._reason

    def trigger(self, reason: str) -> bool:
        """Latch; return True if it was not latched before."""
        with self._lock:
            first = self._reason is None
            if first:
                self._reason = reason
                self._persist(reason)
            return first

    def reset(self) -> bool:
        """Clear the latch; return True if it was latched."""
        with self._lock:
            was = self._reason is not None
            self._reason = None
            if self._file is not None:
                self._file.unlink(missing_ok=True)
            return was

    def _persist(self, reason: str) -> None:
        if self._file is None:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_name(self._file.name + '.tmp')
        with tmp.open('w', encoding='utf-8') as f:
            f.write(reason + '\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._file)


class JumpSafeClock:
    """A view of a clock that can jump backward (``/clock``) as one that never goes back.

    Forward steps of the source advance it by the same amount; a backward jump is absorbed, so
    data stamped before the jump keeps ageing instead of looking fresh again. Stamps of the
    source's timeline become comparable through ``stamp()``. Thread-safe.
    """

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._last_raw: float | None = None
        self._offset = 0.0
        # The source's reading and the offset just before the last backward jump, and the
        # middle of the jump: stamps of the old timeline arriving after it are placed with these.
        self._jumped_from: tuple[float, float, float] | None = None
        self.backward_jumps = 0

    def now(self) -> float:
        """Return the jump-safe time (seconds of the source clock since its first reading)."""
        with self._lock:
            return self._observe(self._read())

    def stamp(self, raw_stamp: float) -> float:
        """Return a data stamp of the source clock on the jump-safe timeline.

        A stamp ahead of the source's current reading (the clock message not processed yet)
        counts as now; a stamp before the last backward jump keeps the age it had then.
        """
        with self._lock:
            raw_now = self._read()
            now = self._observe(raw_now)
            old = self._jumped_from
            # Ahead of the clock and nearer the old timeline than the new: from before the
            # jump, so it keeps the age it has there.
            if raw_stamp > raw_now and old is not None and raw_stamp > old[2]:
                return min(now, raw_stamp + old[1])
            return now - max(0.0, raw_now - raw_stamp)

    def _observe(self, raw: float) -> float:
        if self._last_raw is not None and raw < self._last_raw:
            self._jumped_from = (self._last_raw, self._offset, (self._last_raw + raw) / 2)
            self._offset += self._last_raw - raw
            self.backward_jumps += 1
        self._last_raw = raw
        return raw + self._offset


def staleness(now: float, stamp: float | None, timeout: float) -> str | None:
    """Return a reason if data stamped ``stamp`` (None = never) is older than timeout."""
    if stamp is None:
        return 'no data received yet'
    age = now - stamp
    if age > timeout:
        return f'last message is {age:.2f} s old (limit {timeout:.2f} s)'
    return None
