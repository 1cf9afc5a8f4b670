"""Which OS layers the sandbox needs, and what happens when the kernel lacks one.

The child reports the layers it could apply (``sandbox_child.apply_sandbox``). The executor
fails closed: a child with a layer missing is not given any model code unless the user opted
into a degraded sandbox, e.g.::

    CODEACT_ROBOT_ALLOW_DEGRADED_SANDBOX=1 codeact-robot run "..."

The Python layer is not on this list: it is advisory, and the OS layers are what hold when it
is bypassed (SECURITY.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: The environment variable that opts into running with missing layers.
DEGRADED_ENV = 'CODEACT_ROBOT_ALLOW_DEGRADED_SANDBOX'

#: Every OS layer, with what gives it: shown to a user whose kernel lacks it.
LAYERS: dict[str, str] = {
    'rlimits': 'resource limits (setrlimit)',
    'network': 'a network namespace: needs root, or unprivileged user namespaces (Ubuntu '
               '24.04 restricts them: sysctl kernel.apparmor_restrict_unprivileged_userns=0)',
    'drop_root': 'dropping root to nobody (setuid)',
    'no_new_privs': 'no-new-privileges (prctl PR_SET_NO_NEW_PRIVS)',
    'landlock': 'Landlock filesystem rules: Linux 5.13 or later with landlock in the LSM list',
    'seccomp': 'a seccomp system-call filter: x86_64 Linux with seccomp',
}


class SandboxUnavailableError(RuntimeError):
    """The kernel lacks an OS layer of the sandbox and degraded mode was not chosen."""


def missing_layers(report: Mapping[str, Any]) -> list[str]:
    """Return the names (keys of LAYERS) of the layers a child's report says are off."""
    active = {
        'rlimits': bool(report.get('rlimits')),
        'network': bool(report.get('network')),
        # Only a root host has root to drop.
        'drop_root': report.get('uid') != 0 or bool(report.get('dropped_root')),
        'no_new_privs': bool(report.get('no_new_privs')),
        'landlock': bool(report.get('landlock_abi')),
        'seccomp': bool(report.get('seccomp')),
    }
    return [name for name in LAYERS if not active[name]]


def degraded_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user opted into a degraded sandbox through the environment."""
    value = (os.environ if environ is None else environ).get(DEGRADED_ENV, '')
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def unavailable_message(missing: list[str]) -> str:
    """Explain which layers are missing, what provides them, and how to opt out."""
    lines = [f'- {name}: {LAYERS[name]}' for name in missing]
    return ('the sandbox for model code cannot start: this machine does not provide\n'
            + '\n'.join(lines)
            + '\nThe model\'s code would run without that protection. Run on a machine that '
            f'provides it, or accept a degraded sandbox with {DEGRADED_ENV}=1 '
            '(Executor(allow_degraded=True)); the missing layers are then logged and '
            'recorded in every transcript.')
