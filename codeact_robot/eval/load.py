"""The machine's load during an episode: a safety stop on a starved machine reads differently.

ROS-free, Linux (``/proc/stat``, ``os.getloadavg``); elsewhere the record says what is missing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

_PROC_STAT = Path('/proc/stat')


def _cpu_times() -> tuple[int, int] | None:
    """Return (busy, total) jiffies over all cores, or None without /proc/stat."""
    try:
        fields = _PROC_STAT.read_text(encoding='ascii').splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


class LoadSampler:
    """Sample the load average on a thread; CPU busy share over the whole episode."""

    def __init__(self, period: float = 5.0) -> None:
        self._period = period
        self._stop = threading.Event()
        self._samples: list[float] = []
        self._start: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name='load-sampler', daemon=True)

    def _run(self) -> None:
        while True:
            self._samples.append(os.getloadavg()[0])
            if self._stop.wait(self._period):
                return

    def __enter__(self) -> LoadSampler:
        self._start = _cpu_times()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def summary(self) -> dict[str, Any]:
        """Return cores, load average (1 min) mean/max and the CPU busy % of the episode."""
        out: dict[str, Any] = {'cores': os.cpu_count()}
        if self._samples:
            out['loadavg_1min_mean'] = round(sum(self._samples) / len(self._samples), 2)
            out['loadavg_1min_max'] = round(max(self._samples), 2)
        end = _cpu_times()
        if self._start is not None and end is not None and end[1] > self._start[1]:
            busy = (end[0] - self._start[0]) / (end[1] - self._start[1])
            out['cpu_busy_pct'] = round(100.0 * busy, 1)
        return out
