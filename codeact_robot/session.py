"""A robot, a model and the CodeAct agent, together for one or several commands.

This is what `codeact-robot run`, `chat` and `demo` use: it starts the embedded simulator and the
skills node in this process (or connects to a robot that is already running), creates the LLM
backend, runs each command as one agent episode, prints the turns live, and leaves a run folder
with the transcript and a plot of the robot's path.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from codeact_robot.api.errors import RobotApiError
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Pose

EVENT_SETTLE_SECONDS = 0.5  # wait for the last safety events before closing a transcript


@dataclass
class SessionOptions:
    """Everything `run`/`chat`/`demo` can be told; None means the config file's value."""

    world: str = 'warehouse'
    scenario: str = 'default'
    seed: int | None = None
    real_time_factor: float = 1.0
    external: bool = False
    backend: str | None = None
    model: str | None = None
    base_url: str | None = None
    replay: Path | None = None
    max_turns: int | None = None
    max_episode_seconds: float | None = None
    generation_timeout: float | None = None
    runs_dir: Path = Path('runs')
    agent_config: str = 'agent.yaml'
    extra_backend_config: dict[str, Any] = field(default_factory=dict)
    #: Serve the live Foxglove view on ``view_port`` (0 = any free port).
    view: bool = False
    view_port: int = 8765
    #: Record each episode to an MCAP file beside its transcript.
    record: bool = False


@dataclass
class EpisodeOutcome:
    """What one command produced."""

    command: str
    success: bool
    summary: str
    failure_reason: str
    turns: int
    run_dir: Path | None
    transcript: Path | None
    plot: Path | None
    #: What the robot did, in its own words (one line per motion or gripper call).
    actions: list[str] = field(default_factory=list)
    #: The episode's MCAP recording (``--record``), beside its transcript.
    recording: Path | None = None


class PathRecorder:
    """Samples the robot's map pose on a thread (what the robot believes, not ground truth)."""

    def __init__(self, robot: RobotApi, period: float = 0.25) -> None:
        self._robot = robot
        self._period = period
        self._stop = threading.Event()
        self.points: list[tuple[float, float]] = []
        self._thread = threading.Thread(target=self._sample, name='path-recorder', daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                pose: Pose = self._robot.get_pose()
            except RobotApiError:
                # no pose right now (e.g. odometry briefly stale); the plot just has a gap
                self._stop.wait(self._period)
                continue
            if not self.points or (abs(self.points[-1][0] - pose.x)
                                   + abs(self.points[-1][1] - pose.y)) > 0.01:
                self.points.append((pose.x, pose.y))
            self._stop.wait(self._period)

    def __enter__(self) -> PathRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def append_safety_events(transcript: Path, events: list[dict[str, str]]) -> None:
    """Append the episode's safety events (and their count by kind) to its transcript."""
    record = {'event': 'safety_events', 'by_kind': dict(sorted(Counter(
        e['kind'] for e in events).items())), 'events': events}
    with transcript.open('a', encoding='utf-8') as f:
        f.write(json.dumps(record, ensure_ascii=False) + '\n')


class RobotSession:
    """Own the robot connection, the backend and the agent for a series of commands."""

    def __init__(self, options: SessionOptions,
                 printer: Callable[[Any], None] | None = None) -> None:
        self.options = options
        self._printer = printer
        self._stack = ExitStack()
        self.robot: RobotApi | None = None
        self._agent: Any = None
        self._safety_log: Any = None  # nodes.safety_events.SafetyEventLog while connected
        self.view: Any = None  # nodes.view_node.ViewNode with --view or --record
        self._turn_log: Callable[[Any], None] | None = None  # agent/log publisher

    def __enter__(self) -> RobotSession:
        from codeact_robot.agent import AgentConfig, CodeActAgent
        from codeact_robot.config import node_parameters
        from codeact_robot.llm import create_backend
        from codeact_robot.world import load_world

        opts = self.options
        params = node_parameters(opts.agent_config, 'agent_node')
        self.world = load_world(opts.world)
        backend_config = _backend_config(params, opts)
        try:
            self.robot = self._stack.enter_context(self._robot())
            self.llm = create_backend(backend_config.pop('backend'), **backend_config)
            # A long prompt processed on this CPU takes minutes: say so, and how far it got.
            self.llm.on_prefill = getattr(self._printer, 'prefill', None)
            config = AgentConfig.from_parameters(params)
            if opts.max_turns is not None:
                config.max_turns = opts.max_turns
            if opts.max_episode_seconds is not None:
                config.max_episode_seconds = opts.max_episode_seconds
            if opts.generation_timeout is not None:
                config.generation_timeout = opts.generation_timeout
            self._agent = CodeActAgent(llm=self.llm, robot=self.robot, world=self.world,
                                       config=config, runs_dir=opts.runs_dir,
                                       on_event=self._on_event,
                                       on_token=getattr(self._printer, 'token', None))
            self._stack.callback(self._agent.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _on_event(self, event: Any) -> None:
        if self._turn_log is not None:
            self._turn_log(event)
        if self._printer is not None:
            self._printer(event)

    @contextmanager
    def _robot(self) -> Iterator[RobotApi]:
        from codeact_robot.nodes import bringup
        from codeact_robot.nodes.agent_log import AgentLogPublisher
        from codeact_robot.nodes.safety_events import SafetyEventLog

        opts = self.options
        if opts.external:
            stack = bringup.start_connected(world=opts.world)
        else:
            seed = {} if opts.seed is None else {'seed': opts.seed}
            stack = bringup.start_embedded(opts.world, opts.scenario,
                                           real_time_factor=opts.real_time_factor, **seed)
        try:
            # Each transcript ends with the safety events of its episode (a stop's cause).
            self._safety_log = SafetyEventLog(stack)
            self._turn_log = AgentLogPublisher(stack.client)
            if opts.view or opts.record:
                self.view = self._start_view(stack)
            yield stack.api
        finally:
            stack.close()

    def _start_view(self, stack: Any) -> Any:
        from codeact_robot.nodes.view_node import add_view

        return add_view(stack.runner, self.world, live=self.options.view,
                        port=self.options.view_port)

    def run(self, command: str) -> EpisodeOutcome:
        """Run one command as one agent episode and plot the path the robot took."""
        from codeact_robot.path_plot import plot_path

        assert self.robot is not None, 'use RobotSession as a context manager'
        log = self._safety_log
        first_event = len(log.events) if log is not None else 0
        recording = None
        if self.options.record and self.view is not None:
            recording = self.view.start_episode(self.options.runs_dir)
        with PathRecorder(self.robot) as recorder:
            result = self._agent.run(command)
        transcript = Path(result.transcript_path) if result.transcript_path else None
        if transcript is not None and log is not None:
            # Events of the episode's last moment (its stop) are still on their way over DDS.
            time.sleep(EVENT_SETTLE_SECONDS)
            append_safety_events(transcript, list(log.events[first_event:]))
        if recording is not None:
            recording = self.view.finish_episode(transcript)
        run_dir = transcript.parent if transcript else None
        plot = None
        if transcript is not None:
            # beside the episode's transcript, with the same name: one pair per command
            plot = plot_path(self.world, recorder.points, transcript.with_suffix('.path.png'),
                             title=f'{command}  [{self.options.scenario}]',
                             blocked_aisles=self._blocked_aisles())
        return EpisodeOutcome(command=command, success=result.success, summary=result.summary,
                              failure_reason=result.failure_reason, turns=result.turns,
                              run_dir=run_dir, transcript=transcript, plot=plot,
                              actions=list(result.actions), recording=recording)

    def _blocked_aisles(self) -> list[str]:
        """Return the aisles the robot remembers as blocked (empty when it cannot say)."""
        try:
            return list(self.robot.blocked_aisles())
        except RobotApiError:
            return []  # the plot is still worth having without them

    def cancel(self) -> None:
        """Stop the running episode: its code and the robot."""
        if self._agent is not None:
            self._agent.cancel()

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _backend_config(params: dict[str, Any], opts: SessionOptions) -> dict[str, Any]:
    """Backend settings: config/agent.yaml (read as agent_node reads it), then the user's."""
    from codeact_robot.nodes.agent_node import backend_settings

    backend, config = backend_settings({'backend': 'auto', **params})
    config['backend'] = opts.backend or backend
    if opts.model:
        config['model'] = opts.model
    if opts.base_url:
        config['base_url'] = opts.base_url
    if opts.replay:
        config['script'] = opts.replay
    config.update(opts.extra_backend_config)
    return {k: v for k, v in config.items() if v not in ('', None)}


@contextmanager
def live_session(options: SessionOptions, out: TextIO) -> Iterator[RobotSession]:
    """Open a RobotSession that prints every agent event to ``out`` as it happens."""
    from codeact_robot.console import EventPrinter

    with RobotSession(options, printer=EventPrinter(out)) as session:
        if session.view is not None and session.view.port is not None:
            print(f'live view: in the Foxglove app, "Open connection" > Foxglove WebSocket > '
                  f'ws://127.0.0.1:{session.view.port} (layout: config/foxglove_layout.json)',
                  file=out, flush=True)
        yield session
