r"""The watchdog executor: the model's code in an isolated child, the robot API on the host.

Example::

    from codeact_robot.executor import Executor, ExecutionLimits

    with Executor(api=robot, limits=ExecutionLimits(call_timeout_s=30)) as ex:
        res = ex.run("r = go_to('shelf B')\\nprint(r.arrived, r.pose.x)")
        print(res.status, res.stdout)       # ok True 3.0
        res = ex.run('print(r.pose)')       # variables persist within the episode
        ex.reset()                          # new episode: fresh child, fresh namespace

Lifecycle of one ``run``: static checks on the host (``rejected``), then the code is sent to a
child started by ``sandbox_child.py``; the child calls the API through proxies that send JSON
requests, validated here against ``RobotApi``'s type hints and executed on the host; the host
waits with a wall-clock deadline (per call and per episode) and SIGKILLs the child's process
group when it runs out. On timeout, crash, OS limit or protocol violation the child is killed,
``on_stop(reason)`` stops the robot and the next call gets a fresh child (``state_reset``).

Safety errors raised by the API (``SafetyStopError``, ``EStopActiveError``): the motion has
already been refused or stopped; the executor also calls ``on_stop`` at once (cancel motion,
zero velocity), records a violation and raises the error inside the model's code, which may
catch it and replan. If the code does not catch it, the call ends with status ``violation``.
Any other exception of the host API is an infrastructure error: the child is killed, the robot
stopped, and the call ends ``crashed`` without the host traceback.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from codeact_robot.api import errors as api_errors
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.executor import layers as sandbox_layers
from codeact_robot.executor import static_check
from codeact_robot.executor.result import (
    ApiCall,
    ExecStatus,
    ExecutionLimits,
    ExecutionResult,
    clip,
)
from codeact_robot.executor.wire import (
    ChannelTimeout,
    FrameReader,
    ProtocolError,
    Signature,
    bounded,
    decode_arg,
    encode_result,
    result_message,
    send_frame,
    summarize,
)

CHILD_SCRIPT = Path(__file__).with_name('sandbox_child.py')
NOBODY_UID = 65534
_SAFETY_ERRORS = ('SafetyStopError', 'EStopActiveError')
_STDERR_CAP = 8192
log = logging.getLogger(__name__)
#: numpy parts that reach files, C memory or test tooling.
MODULE_DENIED: dict[str, list[str]] = {
    'numpy': ['lib', 'ctypeslib', 'testing', 'f2py', 'distutils', 'DataSource', 'memmap', 'ma',
              'load', 'save', 'savez', 'savez_compressed', 'savetxt', 'loadtxt', 'genfromtxt',
              'fromfile', 'fromregex', 'show_config', 'show_runtime', 'rec', 'char'],
    'typing': ['get_type_hints', 'ForwardRef', 'TYPE_CHECKING'],
    'random': ['SystemRandom'],
    'functools': ['singledispatch', 'singledispatchmethod'],  # eval() string annotations
    'time': ['tzset'],
}


#: Imported in the child before the sandbox closes: lazily loaded parts of allowed modules
#: (codecs, numpy submodules). As root the child drops to nobody, who may not be able to read
#: the stdlib later (e.g. a Python under /root); these must already be loaded then.
EXTRA_PRELOAD: tuple[str, ...] = (
    'encodings.idna', 'encodings.punycode', 'encodings.utf_16', 'encodings.utf_16_le',
    'encodings.utf_16_be', 'encodings.utf_32', 'encodings.utf_32_le', 'encodings.utf_32_be',
    'encodings.latin_1', 'encodings.ascii', 'encodings.utf_8_sig', 'encodings.cp1252',
    'encodings.unicode_escape', 'encodings.raw_unicode_escape', 'encodings.hex_codec',
    'encodings.base64_codec', 'unicodedata', 'stringprep', '_strptime',
    'numpy.fft', 'numpy.polynomial', 'numpy.random', 'numpy.linalg', 'numpy.strings',
    'numpy.emath',
)


class ExecutorError(RuntimeError):
    """The executor itself could not work (e.g. the child never became ready)."""


def _error_specs() -> list[tuple[str, list[str]]]:
    """Return (name, base names) of the API errors, bases first, for the child to rebuild."""
    specs = []
    for cls in api_errors.API_ERRORS:
        bases = [b.__name__ for b in cls.__bases__]
        specs.append((cls.__name__, bases))
    return specs


def _read_dirs() -> list[str]:
    """Return the directories the child may read: the stdlib and numpy, nothing else.

    Not ``platstdlib``: in a virtualenv it is the venv's lib/, which holds site-packages.
    """
    stdlib = os.path.dirname(os.__file__)
    dirs = {stdlib, os.path.join(stdlib, 'lib-dynload')}
    dynload = sysconfig.get_config_var('DESTSHARED')
    if dynload:
        dirs.add(dynload)
    try:
        import numpy
    except ImportError:
        pass  # numpy is optional; without it `import numpy` fails in the child
    else:
        pkg = Path(numpy.__file__).parent
        dirs.update({str(pkg), str(pkg.parent / 'numpy.libs')})
    return sorted(d for d in dirs if os.path.exists(d))


def _numpy_path() -> list[str]:
    try:
        import numpy
    except ImportError:
        return []
    return [str(Path(numpy.__file__).parent.parent)]


class _Child:
    """One sandboxed child process and its channel (host side)."""

    def __init__(self, config: dict[str, Any], python: str) -> None:
        self.scratch = tempfile.mkdtemp(prefix='codeact-exec-')
        if os.geteuid() == 0:
            os.chown(self.scratch, NOBODY_UID, NOBODY_UID)
        config = dict(config, scratch=self.scratch)
        env = {
            'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
            'HOME': self.scratch, 'TMPDIR': self.scratch,
            # One BLAS thread: no threads to outlive a kill, and user namespaces need one.
            'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
        }
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [python, '-I', '-S', '-B', str(CHILD_SCRIPT), str(child_sock.fileno()),
                 json.dumps(config)],
                pass_fds=(child_sock.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=self.scratch,
                start_new_session=True, close_fds=True)
        except OSError:
            parent_sock.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        finally:
            child_sock.close()
        parent_sock.setblocking(False)
        self.sock = parent_sock
        assert self.proc.stderr is not None
        self._stderr = self.proc.stderr
        os.set_blocking(self._stderr.fileno(), False)
        self.stderr_text = ''
        self.reader = FrameReader(parent_sock)
        self.ready: dict[str, Any] | None = None
        self.start_seconds = 0.0
        self.killed_at: float | None = None
        self.reaped_at: float | None = None
        self.layers_checked = False

    @property
    def pid(self) -> int:
        """Process id (also the process group id) of the child."""
        return self.proc.pid

    def drain_stderr(self, _item: Any = None) -> None:
        """Read what the child wrote to fd 2 (C-level messages), keeping at most a few KB."""
        try:
            data = self._stderr.read(65536)
        except (BlockingIOError, ValueError, OSError):
            return
        if data and len(self.stderr_text) < _STDERR_CAP:
            self.stderr_text += data.decode('utf-8', 'replace')[:_STDERR_CAP]

    def read(self, deadline: float) -> dict[str, Any]:
        """Return the next message from the child."""
        return self.reader.read(deadline, [self._stderr], self.drain_stderr)

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Block until the child reports its sandbox layers; raise ExecutorError otherwise."""
        if self.ready is not None:
            return self.ready
        try:
            message = self.read(self.started + timeout)
        except (ChannelTimeout, EOFError, ProtocolError) as exc:
            self.kill()
            raise ExecutorError(f'the sandbox did not start: {exc}; '
                                f'{self.stderr_text.strip()[-500:]}') from exc
        if message.get('t') != 'ready':
            self.kill()
            raise ExecutorError('the sandbox sent an unexpected first message')
        self.ready = message
        self.start_seconds = time.monotonic() - self.started
        return message

    def has_pending(self) -> bool:
        """Return True if the child sent something while no call was running."""
        if self.reader.buffered:
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def send(self, message: dict[str, Any]) -> None:
        """Send one frame to the child (bounded)."""
        send_frame(self.sock, message)

    def alive(self) -> bool:
        """Return True while the child process runs."""
        return self.proc.poll() is None

    def kill(self) -> int | None:
        """SIGKILL the child's whole process group, reap it and remove its scratch directory."""
        self.killed_at = time.monotonic()
        for target in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), self.proc.kill):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass  # already gone
        code = self._reap(timeout=5.0)
        if code is not None:
            self.reaped_at = time.monotonic()
        self.drain_stderr()
        for closable in (self.sock, self._stderr):
            try:
                closable.close()
            except OSError:
                pass  # closing a broken pipe may fail; nothing is left to flush
        # The child may leave files without write permission for us; they go with the dir.
        shutil.rmtree(self.scratch, ignore_errors=True)
        return code

    def _reap(self, timeout: float) -> int | None:
        """Wait for the killed child to end; return its exit code or None when it hangs."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            # A pidfd becomes readable the moment the child ends (Popen.wait polls with
            # sleeps of up to 50 ms, which would add to the kill latency).
            pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        if pidfd is not None:
            try:
                select.select([pidfd], [], [], timeout)
            finally:
                os.close(pidfd)
        try:
            return self.proc.wait(timeout=timeout if pidfd is None else 0.5)
        except subprocess.TimeoutExpired:
            return None  # unkillable (uninterruptible sleep): reported by the caller

    def close(self) -> None:
        """Ask the child to exit, then kill it anyway (it holds nothing worth keeping)."""
        if self.alive() and self.ready is not None:
            try:
                self.send({'t': 'exit'})
            except OSError:
                pass  # the kill below ends it regardless
        self.kill()


class Executor:
    """Run model-written code in a sandboxed child with the robot API as its only way out."""

    def __init__(self, api: Any = None,
                 functions: Iterable[str] | Mapping[str, Callable[..., Any]] | None = None,
                 extra_functions: Mapping[str, Callable[..., Any]] | None = None,
                 limits: ExecutionLimits | None = None,
                 on_stop: Callable[[str], None] | None = None,
                 python_layer: bool = True, python: str | None = None,
                 allow_degraded: bool | None = None,
                 simulate_missing_layers: Iterable[str] = ()) -> None:
        """Create the executor and start its first child.

        Args:
            api: The robot API object whose methods are exposed (a ``RobotApi``).
            functions: Names of ``api`` methods to expose (default ``RobotApi.LLM_FUNCTIONS``),
                or a mapping from name to a host callable. Names found in ``extra_functions``
                are taken from there.
            extra_functions: Agent-side callables (e.g. ``done``, ``fail``); plain data in.
            limits: Time, CPU, memory and output limits.
            on_stop: Called with a reason on timeout, crash, OS limit, violation or kill;
                defaults to ``api.emergency_stop``.
            python_layer: False disables static checks and restricted builtins, leaving the
                OS layers alone. Only for tests of the OS layers.
            python: Interpreter of the child (default: this one).
            allow_degraded: Run even where the kernel lacks an OS layer (logged, and in
                ``sandbox_layers``). None: the CODEACT_ROBOT_ALLOW_DEGRADED_SANDBOX variable.
            simulate_missing_layers: Tests only: layers (``layers.LAYERS``) the child leaves
                off as if the kernel lacked them.

        Raises:
            SandboxUnavailableError: an OS layer is missing and degraded mode was not chosen.
        """
        self.limits = limits or ExecutionLimits()
        self._api = api
        extra = dict(extra_functions or {})
        if functions is None:
            functions = tuple(RobotApi.LLM_FUNCTIONS) if api is not None else ()
        table: dict[str, Callable[..., Any]] = {}
        if isinstance(functions, Mapping):
            table.update(functions)
        else:
            for name in functions:
                if name in extra:
                    table[name] = extra[name]
                elif api is not None and callable(getattr(api, name, None)):
                    table[name] = getattr(api, name)
                else:
                    raise ValueError(f'function {name!r} is neither on the api nor in '
                                     'extra_functions')
        for name, func in extra.items():
            table.setdefault(name, func)
        for name in table:
            if not name.isidentifier() or name.startswith('_'):
                raise ValueError(f'cannot expose {name!r}: not a public identifier')
        self._signatures = {
            name: Signature(name, func, getattr(RobotApi, name, None)
                            if name in RobotApi.LLM_FUNCTIONS else None)
            for name, func in table.items()}
        if on_stop is None and api is not None:
            on_stop = getattr(api, 'emergency_stop', None)
        self._on_stop = on_stop
        self._python_layer = python_layer
        self._python = python or sys.executable
        lim = self.limits
        self._config = {
            'limits': {'cpu_time_s': lim.cpu_time_s, 'memory_mb': lim.memory_mb,
                       'max_file_mb': lim.max_file_mb, 'max_open_files': lim.max_open_files},
            'extra_sys_path': _numpy_path(),
            'preload': sorted(static_check.ALLOWED_MODULES) + list(EXTRA_PRELOAD),
            'allowed_modules': sorted(static_check.ALLOWED_MODULES),
            'forbidden_attributes': sorted(static_check.FORBIDDEN_ATTRIBUTES),
            'module_denied': MODULE_DENIED,
            'errors': _error_specs(),
            'functions': [(name, '') for name in self._signatures],
            'python_layer': python_layer,
            'read_dirs': _read_dirs(),
            'drop_uid': NOBODY_UID,
            'parent_pid': os.getpid(),
            'simulate_missing': sorted(set(simulate_missing_layers)),
        }
        unknown = set(simulate_missing_layers) - set(sandbox_layers.LAYERS)
        if unknown:
            raise ValueError(f'unknown sandbox layers {sorted(unknown)}')
        self._allow_degraded = sandbox_layers.degraded_allowed() if allow_degraded is None \
            else bool(allow_degraded)
        self.missing_layers: list[str] = []
        # What the first child reported (set once it passed the check; no child is started
        # to read it, unlike sandbox_layers).
        self.checked_layers: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, 'executor-api')
        # Children are started from one long-lived thread: they die with it (PDEATHSIG),
        # i.e. when the executor closes or the host dies, not when a caller's thread ends.
        self._spawner = concurrent.futures.ThreadPoolExecutor(1, 'executor-spawn')
        self._child: _Child | None = None
        self._spare: _Child | None = None
        self._episode_used = 0.0
        self._closed = False
        self._running: _Child | None = None
        self._cancel_reason: str | None = None
        self.last_kill_latency: float | None = None  # deadline -> child dead (last timeout)
        self.last_signal_latency: float | None = None  # deadline -> SIGKILL sent
        self._child = self._new_child()
        try:
            # Fail closed before any model code is accepted, not at the first run().
            self._current_child()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def function_names(self) -> tuple[str, ...]:
        """Names the model's code can call."""
        return tuple(self._signatures)

    @property
    def sandbox_layers(self) -> dict[str, Any]:
        """The OS layers the current child reported (starts it if needed)."""
        child = self._current_child()
        return dict((child.ready or {}).get('layers', {}))

    def _new_child(self) -> _Child:
        return self._spawner.submit(_Child, self._config, self._python).result(timeout=60.0)

    def _current_child(self) -> _Child:
        if self._closed:
            raise ExecutorError('the executor is closed')
        if self._child is None:
            if self._spare is not None:
                self._child, self._spare = self._spare, None
            else:
                self._child = self._new_child()
        child = self._child
        try:
            child.wait_ready(self.limits.start_timeout_s)
        except ExecutorError:
            # One more try with a fresh child (a spare may have been killed from outside).
            self._child = child = self._new_child()
            child.wait_ready(self.limits.start_timeout_s)
        self._check_layers(child)
        return child

    def _check_layers(self, child: _Child) -> None:
        """Refuse a child whose OS layers are incomplete, unless degraded mode was chosen."""
        if child.layers_checked:
            return
        report = (child.ready or {}).get('layers', {})
        missing = sandbox_layers.missing_layers(report)
        if missing and not self._allow_degraded:
            self._child = None
            child.close()
            raise sandbox_layers.SandboxUnavailableError(
                sandbox_layers.unavailable_message(missing))
        if self.checked_layers is None:
            if missing:
                log.warning('sandbox running DEGRADED (allowed): missing %s; layers %s',
                            ', '.join(missing), report)
            else:
                log.info('sandbox layers active: %s', report)
            self.checked_layers = dict(report)
        self.missing_layers = missing
        child.layers_checked = True

    def _top_up_pool(self) -> None:
        """Start a spare child (after a step, so its start does not slow the step down)."""
        if self.limits.warm_pool and self._spare is None and not self._closed:
            self._spare = self._new_child()

    def _discard_child(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def reset(self) -> None:
        """Start a new episode: fresh namespace (new child) and a new episode time budget."""
        with self._lock:
            self._discard_child()
            self._episode_used = 0.0
            self._top_up_pool()

    def close(self) -> None:
        """Kill the children and release everything (idempotent, from any thread)."""
        if self._running is not None:
            self.cancel('the executor is closing')  # a running step ends now, not at its deadline
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for child in (self._child, self._spare):
                if child is not None:
                    child.close()
            self._child = self._spare = None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._spawner.shutdown(wait=False, cancel_futures=True)

    def cancel(self, reason: str = 'cancelled') -> None:
        """Stop the running step now, from any thread: kill its child and stop the robot.

        The ``run`` in progress returns status ``killed`` (``exc_type`` ``Cancelled``).
        """
        child = self._running
        if child is None:
            return
        self._cancel_reason = reason
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # it ended by itself; the run reports that
        if self._on_stop is not None:
            self._on_stop(reason)

    def child_pids(self) -> list[int]:
        """Pids of the live children (current and spare), for tests and monitoring."""
        return [c.pid for c in (self._child, self._spare) if c is not None and c.alive()]

    # ------------------------------------------------------------------ running
    def run(self, code: str, timeout: float | None = None) -> ExecutionResult:
        """Run code in the episode's namespace; return what happened, whatever the code does."""
        with self._lock:
            return self._run(code, timeout)

    def _run(self, code: str, timeout: float | None) -> ExecutionResult:
        start = time.monotonic()
        if self._python_layer:
            problems = static_check.check_code(code, self.limits.max_code_chars)
            if problems:
                return ExecutionResult(status=ExecStatus.REJECTED, violations=problems,
                                       exc_type='RejectedCode', exc_message=problems[0],
                                       duration=time.monotonic() - start)
        elif not isinstance(code, str):
            raise TypeError('code must be a string')
        left = self.limits.episode_timeout_s - self._episode_used
        if left <= 0:
            return ExecutionResult(
                status=ExecStatus.TIMEOUT, exc_type='TimeoutError',
                exc_message='the episode time limit '
                            f'({self.limits.episode_timeout_s:g} s) is used up; reset first',
                duration=time.monotonic() - start)
        budget = min(timeout if timeout is not None else self.limits.call_timeout_s, left)
        child = self._current_child()
        stale = child.has_pending()
        if stale:
            # Only a child that escaped the Python layer talks out of turn: replace it.
            self._discard_child()
            child = self._current_child()
        run_start = time.monotonic()
        state = _RunState(child, run_start + budget, budget, budget == left,
                          self.limits.max_recorded_calls)
        state.result.state_reset = stale
        self._cancel_reason = None
        self._running = child
        try:
            child.send({'t': 'run', 'code': code,
                        'output_chars': self.limits.max_output_chars})
            result = self._serve(state)
        except OSError:
            result = self._child_died(state)  # it died before it could read the code
        finally:
            self._running = None
            self._episode_used += time.monotonic() - run_start
        result.duration = time.monotonic() - start
        self._top_up_pool()
        return result

    def _serve(self, st: _RunState) -> ExecutionResult:
        """Answer the child's messages until it is done, dies or runs out of time."""
        while True:
            try:
                message = st.child.read(st.deadline)
            except ChannelTimeout:
                return self._timeout(st)
            except EOFError:
                return self._child_died(st)
            except ProtocolError as exc:
                return self._abort(st, ExecStatus.VIOLATION, 'ProtocolError', str(exc))
            kind = message['t']
            if kind != 'done' and time.monotonic() >= st.deadline:
                # A child streaming messages nonstop must still meet its deadline.
                return self._timeout(st)
            if kind == 'out':
                st.add_output(message.get('s'), message.get('d'), self.limits.max_output_chars)
            elif kind == 'call':
                outcome = self._api_call(st, message)
                if outcome is not None:
                    return outcome
            elif kind == 'done':
                return self._done(st, message)
            else:
                return self._abort(st, ExecStatus.VIOLATION, 'ProtocolError',
                                   f'unexpected message {clip(kind, 40)!r}')

    def _done(self, st: _RunState, message: dict[str, Any]) -> ExecutionResult:
        res = st.result
        if message.get('truncated') is True:
            res.output_truncated = True
        if message.get('ok') is True:
            res.status = ExecStatus.OK
            return res
        res.exc_type = clip(_text(message.get('exc_type')), 200)
        res.exc_message = clip(_text(message.get('exc_message')))
        res.traceback = clip(_text(message.get('traceback')))
        res.status = ExecStatus.VIOLATION if (
            res.exc_type in _SAFETY_ERRORS and st.safety_errors) else ExecStatus.ERROR
        return res

    def _api_call(self, st: _RunState, message: dict[str, Any]) -> ExecutionResult | None:
        name = message.get('name')
        call_id = message.get('id')
        if not isinstance(name, str) or name not in self._signatures or \
                type(call_id) is not int:
            return self._abort(st, ExecStatus.VIOLATION, 'ProtocolError',
                               f'call of an unknown function {clip(_text(name), 60)!r}')
        if st.calls >= self.limits.max_api_calls:
            return self._abort(st, ExecStatus.VIOLATION, 'ApiCallLimit',
                               f'more than {self.limits.max_api_calls} API calls in one step')
        st.calls += 1
        began = time.monotonic()
        try:
            raw_args = message.get('args')
            raw_kwargs = message.get('kwargs')
            if type(raw_args) is not list or type(raw_kwargs) is not dict:
                raise TypeError('malformed call')
            args = [decode_arg(a) for a in raw_args]
            kwargs = {str(k): decode_arg(v) for k, v in raw_kwargs.items()}
        except (TypeError, RecursionError) as exc:
            return self._abort(st, ExecStatus.VIOLATION, 'ProtocolError',
                               f'malformed arguments: {exc}')
        sig = self._signatures[name]
        # What is kept of the call is bounded: the model may send 1 MB per argument.
        record = {'name': name, 'args': bounded(args), 'kwargs': bounded(kwargs)}
        try:
            bound = sig.bind(args, kwargs)
        except (TypeError, ValueError) as exc:
            err_type = type(exc).__name__
            st.record(ApiCall(**record, ok=False, error_type=err_type,
                                               error_message=clip(str(exc)),
                                               duration=time.monotonic() - began))
            return self._reply_error(st, call_id, err_type, str(exc))
        future = self._pool.submit(sig.func, *bound.args, **bound.kwargs)
        try:
            value = future.result(timeout=max(0.0, st.deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            st.record(ApiCall(**record, ok=False, error_type='TimeoutError',
                                               error_message='still running at the deadline',
                                               duration=time.monotonic() - began))
            result = self._timeout(st)
            self._settle(future)
            return result
        except api_errors.RobotApiError as exc:
            err_type = api_errors.error_name(exc)
            text = clip(str(exc))
            st.record(ApiCall(**record, ok=False, error_type=err_type,
                                               error_message=text,
                                               duration=time.monotonic() - began))
            if isinstance(exc, api_errors.SafetyStopError):
                st.safety_errors += 1
                st.result.violations.append(f'{name}: {err_type}: {text}')
                self._stop_robot(st, f'safety: {name}: {text}')
            return self._reply_error(st, call_id, err_type, text)
        except Exception as exc:  # noqa: BLE001 - any other host failure is infrastructure
            st.record(ApiCall(**record, ok=False,
                                               error_type='InfrastructureError',
                                               error_message=type(exc).__name__,
                                               duration=time.monotonic() - began))
            return self._abort(st, ExecStatus.CRASHED, 'InfrastructureError',
                               f'the robot API failed internally ({type(exc).__name__}) in '
                               f'{name}(); the robot was stopped')
        try:
            encoded = encode_result(value)
        except (TypeError, RecursionError) as exc:
            return self._abort(st, ExecStatus.CRASHED, 'InfrastructureError',
                               f'{name}() returned an unsendable result: {exc}')
        st.record(ApiCall(**record, ok=True, result_summary=summarize(value),
                                           message=clip(result_message(value)),
                                           duration=time.monotonic() - began))
        try:
            st.child.send({'t': 'ret', 'id': call_id, 'ok': True, 'value': encoded})
        except OSError:
            return self._child_died(st)
        return None

    def _reply_error(self, st: _RunState, call_id: int, err_type: str,
                     text: str) -> ExecutionResult | None:
        try:
            st.child.send({'t': 'ret', 'id': call_id, 'ok': False,
                           'error': {'type': err_type, 'message': text}})
        except OSError:
            return self._child_died(st)
        return None

    def _settle(self, future: concurrent.futures.Future[Any]) -> None:
        """Give a host call that outlived the deadline a bounded time to end after the stop."""
        try:
            future.result(timeout=5.0)
        except concurrent.futures.TimeoutError:
            # Abandon the stuck call; a new worker serves the next calls.
            self._pool.shutdown(wait=False)
            self._pool = concurrent.futures.ThreadPoolExecutor(1, 'executor-api')
        except Exception:  # noqa: BLE001, S110 - its outcome no longer matters after the stop
            return

    # ------------------------------------------------------------------ endings
    def _kill_child(self, st: _RunState) -> None:
        st.child.kill()
        if self._child is st.child:
            self._child = None
        st.result.state_reset = True

    def _stop_robot(self, st: _RunState, reason: str) -> None:
        if self._on_stop is None:
            return
        try:
            self._on_stop(reason)
        except Exception as exc:  # noqa: BLE001 - report, never let the host fall over
            st.result.violations.append(f'stopping the robot failed: {type(exc).__name__}')
            return
        st.result.robot_stopped = True

    def _abort(self, st: _RunState, status: ExecStatus, exc_type: str,
               message: str) -> ExecutionResult:
        self._kill_child(st)
        self._stop_robot(st, f'{status.value}: {message}')
        st.result.status = status
        st.result.exc_type = exc_type
        st.result.exc_message = message
        if status in (ExecStatus.VIOLATION,):
            st.result.violations.append(message)
        return st.result

    def _timeout(self, st: _RunState) -> ExecutionResult:
        which = 'episode' if st.episode_bound else 'call'
        result = self._abort(st, ExecStatus.TIMEOUT, 'TimeoutError',
                             f'the code ran longer than the {which} limit of '
                             f'{st.budget:.3g} s and was killed')
        if st.child.killed_at is not None:
            self.last_signal_latency = st.child.killed_at - st.deadline
        if st.child.reaped_at is not None:
            # From the deadline to the child reaped (dead, its process group killed).
            self.last_kill_latency = st.child.reaped_at - st.deadline
        return result

    def _child_died(self, st: _RunState) -> ExecutionResult:
        code = st.child.kill()
        sig = -code if code is not None and code < 0 else None
        if self._cancel_reason is not None:
            status, exc_type = ExecStatus.KILLED, 'Cancelled'
            message = f'the step was cancelled ({self._cancel_reason})'
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and st.child.killed_at is None):
            status, exc_type = ExecStatus.KILLED, 'ResourceLimitError'
            message = f'CPU time limit of {self.limits.cpu_time_s} s exceeded'
        elif sig == signal.SIGXFSZ:
            status, exc_type = ExecStatus.KILLED, 'ResourceLimitError'
            message = f'file size limit of {self.limits.max_file_mb} MB exceeded'
        elif sig is not None:
            status, exc_type = ExecStatus.CRASHED, 'SandboxCrash'
            message = f'the sandbox died from signal {signal.Signals(sig).name}'
        else:
            status, exc_type = ExecStatus.CRASHED, 'SandboxCrash'
            message = f'the sandbox exited unexpectedly (code {code})'
        if st.child.stderr_text.strip():
            st.result.stderr += clip(st.child.stderr_text, 2000)
        return self._abort(st, status, exc_type, message)


class _RunState:
    """Book-keeping of one run: deadline, result under construction, safety events."""

    def __init__(self, child: _Child, deadline: float, budget: float,
                 episode_bound: bool, max_recorded: int) -> None:
        self.child = child
        self.deadline = deadline
        self.budget = budget
        self.episode_bound = episode_bound
        self.safety_errors = 0
        self.output_chars = 0
        self.calls = 0
        self.result = ExecutionResult(status=ExecStatus.CRASHED)
        self.max_recorded = max_recorded

    def record(self, call: ApiCall) -> None:
        """Keep the call in the result, or only count it once max_recorded are kept."""
        if len(self.result.api_calls) < self.max_recorded:
            self.result.api_calls.append(call)
        else:
            self.result.unrecorded_calls += 1

    def add_output(self, stream: Any, data: Any, cap: int) -> None:
        if not isinstance(data, str) or stream not in ('stdout', 'stderr'):
            return
        data = _text(data)
        room = cap - self.output_chars
        if len(data) > room:
            data = data[:max(room, 0)]
            self.result.output_truncated = True
        self.output_chars += len(data)
        if stream == 'stdout':
            self.result.stdout += data
        else:
            self.result.stderr += data


def _text(value: Any) -> str:
    """Return a child-sent string as valid Unicode (lone surrogates escaped), else ''."""
    if not isinstance(value, str):
        return ''
    return value.encode('utf-8', 'backslashreplace').decode('utf-8')
