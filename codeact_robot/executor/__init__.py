"""Watchdog executor: model-written code in an isolated, OS-restricted child process.

Example::

    from codeact_robot.executor import Executor, ExecutionLimits

    ex = Executor(api=robot, extra_functions={'done': done_cb},
                  limits=ExecutionLimits(call_timeout_s=30))
    res = ex.run("print(get_pose())")
    print(res.status.value, res.to_observation())
    ex.close()
"""

from codeact_robot.executor.executor import Executor, ExecutorError
from codeact_robot.executor.layers import SandboxUnavailableError
from codeact_robot.executor.result import ApiCall, ExecStatus, ExecutionLimits, ExecutionResult
from codeact_robot.executor.static_check import ALLOWED_MODULES, check_code

__all__ = [
    'ALLOWED_MODULES', 'ApiCall', 'ExecStatus', 'ExecutionLimits', 'ExecutionResult',
    'Executor', 'ExecutorError', 'SandboxUnavailableError', 'check_code',
]
