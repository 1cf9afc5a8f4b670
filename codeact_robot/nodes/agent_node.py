"""agent_node: the CodeAct agent behind ROS 2 -- the ExecuteCommand action and a command topic.

Interfaces: action ``/agent/execute_command`` (ExecuteCommand; feedback every phase of every
turn, cancel honoured: it stops the code and the robot), topic ``/agent/command``
(std_msgs/String; runs the command when the agent is idle). One episode at a time.
Parameters (config/agent.yaml, ``agent_node: ros__parameters:``): the backend and model, the
``llm_*`` backend settings and the episode limits; changes apply from the next episode.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

import rclpy
from geometry_msgs.msg import Pose2D
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

from codeact_robot.agent import AgentConfig, AgentEvent, CodeActAgent, EpisodeResult
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.llm import BACKENDS, LlmBackend, LlmError, create_backend
from codeact_robot.nodes.agent_log import AgentLogPublisher
from codeact_robot.nodes.parameters import describe
from codeact_robot.nodes.ros_log import log_graph
from codeact_robot.nodes.runner import PoolExecutor
from codeact_robot_interfaces.action import ExecuteCommand

NODE_NAME = 'agent_node'
ACTION_NAME = 'agent/execute_command'
COMMAND_TOPIC = 'agent/command'

# name: (default, description, (low, high) or None). config/agent.yaml holds the same names.
_PARAMS: dict[str, tuple[Any, str, tuple[float, float] | None]] = {
    'backend': ('auto', f'LLM backend: {", ".join(BACKENDS)}; auto = Ollama if a server '
                        'answers, else the embedded llama.cpp model', None),
    'model': ('qwen2.5-coder:1.5b', 'Model name for Ollama / the OpenAI-compatible server',
              None),
    'llm_host': ('', "Ollama URL; '' = $OLLAMA_HOST or http://127.0.0.1:11434", None),
    'llm_base_url': ('', "OpenAI-compatible base URL; '' = $OPENAI_BASE_URL or "
                         'http://127.0.0.1:8000/v1', None),
    'llm_model_path': ('', "GGUF file of the embedded model; '' = the cached "
                           'qwen2.5-coder-1.5b-instruct-q4.gguf', None),
    'llm_script': ('', 'YAML/JSON file of scripted completions (replay backend)', None),
    'llm_temperature': (0.0, 'Sampling temperature', (0.0, 2.0)),
    'llm_context_size': (8192, 'Context window in tokens (Ollama num_ctx, llama.cpp n_ctx)',
                         (512, 131072)),
    'llm_keep_alive': ('10m', 'How long Ollama keeps the model loaded', None),
    'llm_n_threads': (2, 'CPU threads of the embedded model', (1, 256)),
    'llm_prompt_cache': ('', "Folder of the embedded model's saved system-prompt states; "
                         "'' = $CODEACT_ROBOT_CACHE/prompt_states, 'off' = none", None),
    'llm_prompt_lookup': (0, "Embedded model, greedy: most tokens guessed at once from earlier "
                          'text (prompt-lookup decoding); 0 = off', (0, 64)),
    'world': ('warehouse', 'World name (sim/worlds/<name>.yaml) or path', None),
    'runs_dir': ('runs', 'Directory of the episode transcripts (JSONL)', None),
    'max_turns': (8, 'Most model turns per episode', (1, 100)),
    'max_episode_seconds': (600.0, 'Wall-clock limit of an episode (s)', (1.0, 86400.0)),
    'turn_timeout': (120.0, "Wall-clock limit of one turn's code (s)", (0.5, 3600.0)),
    'generation_timeout': (120.0, 'Wall-clock limit of one model reply (s)', (1.0, 3600.0)),
    'max_new_tokens': (384, 'Most tokens per model reply', (16, 8192)),
    'observation_chars': (1200, 'Longest observation fed back to the model', (200, 100000)),
    'n_examples': (3, 'Few-shot examples in the system prompt', (0, 10)),
    'record_episodes': (False, 'Record each episode (robot topics, scene, turns) to an MCAP '
                        'file beside its transcript; read at start-up', None),
}
_BACKEND_PARAMS = ('backend', 'model', 'llm_host', 'llm_base_url', 'llm_model_path',
                   'llm_script', 'llm_temperature', 'llm_context_size', 'llm_keep_alive',
                   'llm_n_threads', 'llm_prompt_cache', 'llm_prompt_lookup')



def backend_settings(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the backend name and create_backend() settings from node parameters."""
    settings = {k.removeprefix('llm_'): v for k, v in params.items()
                if k.startswith('llm_') and v != ''}
    if params.get('model'):
        settings['model'] = params['model']
    return params['backend'], settings


class AgentNode(Node):
    """Serve plain-language commands as CodeAct episodes (action + topic)."""

    def __init__(self, *, robot: RobotApi | None = None, llm: LlmBackend | None = None,
                 world: Any | None = None, **kwargs: Any) -> None:
        """Create the node.

        Args:
            robot: The robot API; None builds a RosRobotApi client on this node.
            llm: The backend; None creates one from the parameters at the first command.
            world: The World; None loads the ``world`` parameter.
            **kwargs: Passed to rclpy Node (context, parameter_overrides, ...).
        """
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, text, bounds) in _PARAMS.items():
            self.declare_parameter(name, default, describe(text, default, bounds))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._group = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._busy = False
        self._agent: CodeActAgent | None = None
        self._agent_dirty = True
        self._backend_dirty = llm is None
        self._llm = llm
        self._fixed_llm = llm is not None
        params = self._params()
        if world is None:
            from codeact_robot.world import load_world
            world = load_world(params['world'])
        self._world = world
        if robot is None:
            from codeact_robot.nodes.ros_robot_api import RosRobotApi
            robot = RosRobotApi(self, world)
        self._robot = robot
        self._topic_thread: threading.Thread | None = None
        self._turn_log = AgentLogPublisher(self)  # each turn on agent/log, for viewers
        #: nodes.view_node.ViewNode that records each episode (``record_episodes``), or None.
        self.recorder: Any = None
        self._action = ActionServer(
            self, ExecuteCommand, ACTION_NAME, execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=self._on_cancel,
            callback_group=self._group)
        self.create_subscription(String, COMMAND_TOPIC, self._on_command, 10,
                                 callback_group=self._group)
        self.get_logger().info(f'ready: action {ACTION_NAME}, topic {COMMAND_TOPIC}, '
                               f'backend {params["backend"]}')
        log_graph(self)

    # -- parameters ------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in _PARAMS}

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = _PARAMS.get(param.name)
            if spec is None:
                continue
            _, _, bounds = spec
            if bounds is not None and not bounds[0] <= param.value <= bounds[1]:
                return SetParametersResult(successful=False,
                                           reason=f'{param.name} must be in {list(bounds)}')
            if param.name == 'backend' and param.value not in BACKENDS:
                return SetParametersResult(successful=False,
                                           reason=f'backend must be one of {BACKENDS}')
            if param.name == 'world' and self._agent is not None:
                return SetParametersResult(successful=False,
                                           reason='world is fixed once the agent started')
        with self._lock:
            names = {p.name for p in params}
            self._agent_dirty = self._agent_dirty or bool(names & set(_PARAMS))
            if not self._fixed_llm and names & set(_BACKEND_PARAMS):
                self._backend_dirty = True
        return SetParametersResult(successful=True)

    def _ready_agent(self) -> CodeActAgent:
        """Return the agent, rebuilt when parameters changed since the last episode."""
        with self._lock:
            rebuild_llm, rebuild_agent = self._backend_dirty, self._agent_dirty
            self._backend_dirty = self._agent_dirty = False
        params = self._params()
        if rebuild_llm or self._llm is None:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
            name, settings = backend_settings(params)
            try:
                self._llm = create_backend(name, **settings)
            except LlmError:
                with self._lock:
                    self._backend_dirty = True  # try again at the next command
                raise
            self.get_logger().info(f'LLM backend: {self._llm.describe()}')
            rebuild_agent = True
        if rebuild_agent or self._agent is None:
            if self._agent is not None:
                self._agent.close()
            self._agent = CodeActAgent(
                llm=self._llm, robot=self._robot, world=self._world,
                config=AgentConfig.from_parameters(params), runs_dir=Path(params['runs_dir']))
        return self._agent

    # -- one episode -----------------------------------------------------------------------

    def _claim(self) -> bool:
        with self._lock:
            if self._busy:
                return False
            self._busy = True
            return True

    def _release(self) -> None:
        with self._lock:
            self._busy = False

    def _episode(self, command: str, on_event: Any) -> EpisodeResult:
        try:
            agent = self._ready_agent()
        except (LlmError, TypeError, ValueError) as e:
            self.get_logger().error(f'cannot start the agent: {e}')
            return EpisodeResult(False, '', 0, f'LLM unavailable: {e}', None,
                                 error=type(e).__name__)
        publish_turn = self._turn_log

        def each_event(event: Any) -> None:
            publish_turn(event)
            if on_event is not None:
                on_event(event)
        agent.on_event = each_event
        self.get_logger().info(f'command: {command!r}')
        recorder = self.recorder
        if recorder is not None:
            recorder.start_episode(agent.runs_dir)
        result = None
        try:
            result = agent.run(command)
        finally:
            if recorder is not None:
                transcript = result.transcript_path if result is not None else None
                recording = recorder.finish_episode(Path(transcript) if transcript else None)
                self.get_logger().info(f'recording: {recording}')
        level = self.get_logger().info if result.success else self.get_logger().warning
        level(f'episode ended after {result.turns} turns: '
              f'{result.summary if result.success else result.failure_reason} '
              f'(transcript {result.transcript_path})')
        return result

    # -- action ----------------------------------------------------------------------------

    def _on_goal(self, goal: ExecuteCommand.Goal) -> GoalResponse:
        if not goal.command.strip():
            self.get_logger().warning('rejected an empty command')
            return GoalResponse.REJECT
        if not self._claim():
            self.get_logger().warning('rejected a command: an episode is already running')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle: ServerGoalHandle) -> CancelResponse:
        agent = self._agent
        if agent is not None:
            agent.cancel()
        return CancelResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> ExecuteCommand.Result:
        def feedback(event: AgentEvent) -> None:
            msg = ExecuteCommand.Feedback(turn=event.turn, phase=event.phase, code=event.code,
                                          observation=event.observation)
            if event.pose is not None:
                msg.pose = Pose2D(x=event.pose.x, y=event.pose.y, theta=event.pose.theta)
            goal_handle.publish_feedback(msg)

        try:
            if goal_handle.is_cancel_requested:
                result = EpisodeResult(False, '', 0, 'cancelled', None)
            else:
                result = self._episode(goal_handle.request.command, feedback)
        finally:
            self._release()
        out = ExecuteCommand.Result(success=result.success, summary=result.summary,
                                    turns_used=result.turns,
                                    failure_reason=result.failure_reason)
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result.success or result.error is None:
            goal_handle.succeed()  # the episode ran; success says whether the task was done
        else:
            goal_handle.abort()
        return out

    # -- topic -----------------------------------------------------------------------------

    def _on_command(self, msg: String) -> None:
        command = msg.data.strip()
        if not command:
            return
        if not self._claim():
            self.get_logger().warning(f'ignored {command!r}: an episode is already running')
            return
        # A worker thread, so the executor's threads stay free for the robot API's futures.
        self._topic_thread = threading.Thread(target=self._run_topic_command, args=(command,),
                                              name='agent-command', daemon=True)
        self._topic_thread.start()

    def _run_topic_command(self, command: str) -> None:
        try:
            self._episode(command, None)
        finally:
            self._release()

    # -- shutdown --------------------------------------------------------------------------

    def destroy_node(self) -> None:
        """Cancel a running episode, close the agent and the backend, destroy the node."""
        if self._agent is not None:
            if self._busy:
                self._agent.cancel()
            if self._topic_thread is not None:
                self._topic_thread.join(timeout=10.0)
            self._agent.close()
        if self._llm is not None and not self._fixed_llm:
            self._llm.close()
        self._action.destroy()
        super().destroy_node()


def _ros_args(argv: list[str]) -> list[str]:
    """Turn the convenience flags of ``codeact-robot agent`` into --ros-args."""
    parser = argparse.ArgumentParser(prog='codeact-robot agent', allow_abbrev=False,
                                     description='Run the CodeAct agent node.')
    parser.add_argument('--config', help='parameter file (default: the declared defaults, '
                                         'which match config/agent.yaml)')
    parser.add_argument('--backend', choices=BACKENDS)
    parser.add_argument('--model')
    parser.add_argument('--world')
    args, rest = parser.parse_known_args(argv)
    extra: list[str] = []
    if args.config:
        from codeact_robot.resources import share_path
        path = Path(args.config)
        extra += ['--params-file', str(path if path.is_file()
                                       else share_path('config', args.config))]
    for name in ('backend', 'model', 'world'):
        if getattr(args, name):
            extra += ['-p', f'{name}:={getattr(args, name)}']
    if not extra:
        return rest
    if '--ros-args' in rest:
        return [*rest, *extra]
    return [*rest, '--ros-args', *extra]


def main(argv: list[str] | None = None) -> int:
    """Run the agent node until Ctrl-C (``agent_node`` and ``codeact-robot agent``)."""
    import sys

    from codeact_robot.ros_env import remove_stale_shared_memory

    argv = sys.argv[1:] if argv is None else list(argv)
    remove_stale_shared_memory()
    context = Context()
    # Own context, but Ctrl-C must still shut it down (rclpy installs the handlers only for
    # the default context unless asked).
    rclpy.init(args=[NODE_NAME, *_ros_args(argv)], context=context,
               signal_handler_options=SignalHandlerOptions.ALL)
    node = None
    recorder = None
    try:
        node = AgentNode(context=context)
        executor = PoolExecutor(num_threads=4, context=context)
        executor.add_node(node)
        if node.get_parameter('record_episodes').value:
            recorder = _recorder(node, context)
            executor.add_node(recorder)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for made in (recorder, node):
            if made is not None:
                made.destroy_node()
        rclpy.try_shutdown(context=context)
    return 0


def _recorder(node: AgentNode, context: Context) -> Any:
    """Return a view node (no live server) in this process that records the agent's episodes."""
    from rclpy.parameter import Parameter

    from codeact_robot.nodes.view_node import ViewNode

    recorder = ViewNode(world=node._world, name='agent_recorder', context=context,
                        parameter_overrides=[Parameter('live', value=False)])
    node.recorder = recorder
    return recorder


if __name__ == '__main__':
    raise SystemExit(main())
