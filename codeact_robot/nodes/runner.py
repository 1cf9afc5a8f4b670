"""Run rclpy nodes in this process on a background executor thread.

Used by the CLI's embedded mode and by integration tests (where launch_testing is unavailable):
the same nodes that `ros2 launch` starts, spun on a MultiThreadedExecutor with bounded shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import rclpy
from rclpy._rclpy_pybind11 import InvalidHandle
from rclpy.context import Context
from rclpy.executors import (
    ConditionReachedException,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from codeact_robot.ros_env import localhost_only, remove_stale_shared_memory

T = TypeVar('T')
_LOG = logging.getLogger(__name__)


class WaitTimeoutError(TimeoutError):
    """A bounded wait for a ROS condition ran out."""


class PoolExecutor(MultiThreadedExecutor):
    """A MultiThreadedExecutor that does not spin hot on work already queued in its pool.

    rclpy 9 (Kilted) hands a ready task that waits in the thread pool's queue back to every
    ``spin_once``, which then returns at once and queues it again: the spin thread loops
    holding the GIL and the pool's threads, which would start the task, hardly get to run
    (ros2/rclpy#1452, fixed upstream after Kilted). Measured on a 2-core Xeon (bench_sim, node
    layer): 17x real time without the camera and 0.19x with it, against 59x and 21x with this
    class. Here a task is queued once; while it waits, the spin thread sleeps a millisecond.
    """

    QUEUED_WAIT = 0.001  # s the spin thread yields while a ready task waits for a pool thread

    def __init__(self, num_threads: int, context: Context | None = None) -> None:
        super().__init__(num_threads=num_threads, context=context)
        self._queued: set[int] = set()  # id() of tasks submitted and not yet started

    def _start(self, task: Any) -> None:
        self._queued.discard(id(task))
        task()

    def _spin_once_impl(self, timeout_sec: float | None = None,
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            task, _entity, _node = self.wait_for_ready_callbacks(timeout_sec, None,
                                                                 wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException,
                ConditionReachedException):
            return
        if id(task) in self._queued:
            time.sleep(self.QUEUED_WAIT)  # releases the GIL to the pool's threads
        else:
            self._queued.add(id(task))
            # A suspended coroutine task (an action server's goal) is handed back to be
            # resumed: it is queued again here once its last run has started.
            self._executor.submit(self._start, task)
            if task not in self._futures:
                self._futures.append(task)
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                future.result()  # raise any exceptions

    def drain(self) -> list[BaseException]:
        """Collect the exceptions of finished callbacks nobody asked for (after shutdown).

        Callbacks that raise while the spin thread stops (an entity destroyed under them)
        are otherwise only reported by rclpy when they are garbage-collected, on stderr.
        """
        errors = []
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                error = future.exception()
                if error is not None:
                    errors.append(error)
        return errors


class NodeRunner:
    """Own an rclpy context and spin nodes on a background thread until closed.

    Example::

        with NodeRunner() as runner:
            sim = runner.add(SimNode(context=runner.context))
            ...
    """

    def __init__(self, args: list[str] | None = None, num_threads: int = 4,
                 localhost: bool = True, domain_id: int | None = None) -> None:
        if localhost:
            localhost_only()
        remove_stale_shared_memory()
        self.context = Context()
        # domain_id: this context's DDS domain instead of ROS_DOMAIN_ID's
        rclpy.init(args=args, context=self.context, domain_id=domain_id)
        self._executor = PoolExecutor(num_threads=num_threads, context=self.context)
        self._nodes: list[Node] = []
        self._closing = threading.Event()
        self.errors = 0  # callback exceptions logged by the spin thread
        self._thread = threading.Thread(target=self._spin, name='ros-spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok() and not self._closing.is_set():
            try:
                self._executor.spin_once(timeout_sec=0.1)
            except (ExternalShutdownException, ShutdownException, KeyboardInterrupt):
                return
            except InvalidHandle as e:
                if self._closing.is_set():
                    return
                # A node destroyed one of its entities while this thread waited on it (an rclpy
                # race, ros2/rclpy#1206). The entity is gone; keep serving everything else.
                _LOG.warning('spin: skipped a destroyed handle: %s', e)
            except Exception:
                # The executor re-raises a callback's exception here. Ending this thread would
                # stop every node in the process from hearing odometry, lidar and results
                # while the process looks alive; the error is logged and the rest served.
                if self._closing.is_set():
                    return
                self.errors += 1
                _LOG.exception('spin: a callback raised; the nodes keep spinning')

    def add(self, node: Node) -> Node:
        """Spin ``node`` (created with ``context=runner.context``) and destroy it on close."""
        self._nodes.append(node)
        self._executor.add_node(node)
        return node

    def close(self, timeout: float = 5.0) -> None:
        """Stop spinning, destroy the nodes and shut the context down."""
        self._closing.set()
        self._executor.shutdown(timeout_sec=timeout)
        # The spin thread must be out of the executor before nodes go, or callbacks still in
        # flight touch destroyed handles.
        self._thread.join(timeout=timeout)
        for error in self._executor.drain():
            _LOG.debug('close: a callback raised while spinning stopped: %r', error)
        for node in reversed(self._nodes):
            node.destroy_node()
            # rclpy's destroy_node leaves action servers and clients, and their handles keep
            # the node and the DDS participant alive: the participant went on announcing the
            # destroyed nodes and holding its shared-memory ports, and a process started
            # later in the same run was not discovered (CI, under a CPU hog).
            for waitable in list(node.waitables):
                destroy = getattr(waitable, 'destroy', None)
                if destroy is not None:
                    destroy()
        self._nodes.clear()
        rclpy.try_shutdown(context=self.context)
        self.context.destroy()

    def __enter__(self) -> NodeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(predicate: Callable[[], T], timeout: float, what: str,
             period: float = 0.02) -> T:
    """Poll ``predicate`` until it returns a truthy value; raise WaitTimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeoutError(f'timed out after {timeout:.1f} s waiting for {what}')
        time.sleep(period)


def spin_until_shutdown(make_node: Callable[[], Node], num_threads: int,
                        *more: Callable[[], Node]) -> None:
    """Create nodes in the default context and spin them until Ctrl-C; then clean up.

    The ``main()`` of a node executable: rclpy must be initialised. The nodes are destroyed
    and the context shut down however spinning ends.
    """
    nodes: list[Node] = []
    try:
        executor = PoolExecutor(num_threads=num_threads)
        for make in (make_node, *more):
            nodes.append(make())
            executor.add_node(nodes[-1])
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        if rclpy.ok():
            raise
        # Ctrl-C while the node was still being created: rclpy shut the context down under
        # it, and the half-made node cannot create its entities. That is a normal shutdown.
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()


def take_waiting(sub: Any) -> Any | None:
    """Take the message waiting at a subscription, or None; as the executor takes it.

    Safe beside the executor: whichever takes a message first gets it, the other gets None.
    """
    try:
        with sub.handle:
            taken = sub.handle.take_message(sub.msg_type, sub.raw)
    except InvalidHandle:
        return None  # the node is being destroyed
    return None if taken is None else taken[0]
