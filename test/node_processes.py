"""Node executables started as separate processes, as ``ros2 launch`` starts them (test side)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start_module(log: Path, module: str, *args: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` in a session of its own, its output to ``log``."""
    with log.open('wb') as out:
        return subprocess.Popen([sys.executable, '-m', module, *args], stdout=out, env=env,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the process group; kill it if it has not ended within 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5.0)
