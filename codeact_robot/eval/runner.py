"""Run a task suite: one fresh embedded robot per episode, predicates over ground truth.

Layout of the output folder::

    <out>/episodes/<backend>/<mode>/seed<k>/<task>/result.json   the episode's record
    <out>/episodes/<backend>/<mode>/seed<k>/<task>/*.jsonl       its transcript
    <out>/table.json, table.md, table.png                        the aggregate (report.py)

With ``resume`` an episode whose result.json exists is not run again. An episode that could not
be run (the robot did not start, another ROS graph shared the domain, the backend failed or
timed out) leaves error.json instead, so a resumed run retries it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codeact_robot.agent.loop import AgentConfig, EpisodeResult
from codeact_robot.api.errors import RobotApiError
from codeact_robot.eval import predicates
from codeact_robot.eval.load import LoadSampler
from codeact_robot.eval.suite import MODES, Suite, Task
from codeact_robot.llm import LlmBackend, create_backend
from codeact_robot.nodes.runner import WaitTimeoutError
from codeact_robot.world import World

# Agent failure reasons that are limits or errors, not the model's own fail(reason).
_LIMIT_PREFIXES = ('turn limit', 'episode time limit', 'cancelled', 'LLM error')
# Topics only this episode's simulator and skills node may publish. A second publisher means
# another ROS graph shares the DDS domain (e.g. parallel runs whose ROS_DOMAIN_ID collides):
# its odometry or commands would corrupt the episode.
OWN_TOPICS = ('/odom', '/cmd_vel', '/sim/ground_truth', '/scan')
TRUTH_TIMEOUT = 15.0   # s to wait for the first ground truth of a fresh simulator
SETTLE_SIM_SECONDS = 0.5  # sim time to let a released box come to rest before the verdict


@dataclass
class EvalSettings:
    """How to run episodes (shared by all episodes of one run)."""

    agent: AgentConfig = field(default_factory=AgentConfig)
    backend_config: dict[str, Any] = field(default_factory=dict)
    real_time_factor: float = 1.0
    ready_timeout: float = 60.0
    #: Record each episode to an MCAP file beside its transcript (robot topics, scene, turns).
    record: bool = False


def episode_dir(out_dir: Path, backend: str, mode: str, seed: int, task_id: str) -> Path:
    """Return the folder of one episode's record and transcript."""
    return out_dir / 'episodes' / backend / mode / f'seed{seed}' / task_id


def agent_outcome(result: EpisodeResult) -> str:
    """Return 'done', 'fail' (the model's own fail()) or 'none' (limits, errors)."""
    if result.success:
        return 'done'
    if result.error is None and not result.failure_reason.startswith(_LIMIT_PREFIXES):
        return 'fail'
    return 'none'


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix('.tmp')
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + '\n', encoding='utf-8')
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written result


class BackendFailedError(RuntimeError):
    """The LLM backend failed during the episode (infrastructure, not the model's answer)."""


class CrossTalkError(RuntimeError):
    """Another ROS graph publishes on this episode's topics (same ROS_DOMAIN_ID)."""


def check_isolated(node: Any) -> None:
    """Raise CrossTalkError when any of OWN_TOPICS has more than one publisher."""
    shared = {t: n for t in OWN_TOPICS if (n := node.count_publishers(t)) > 1}
    if shared:
        raise CrossTalkError(
            f'another ROS graph shares ROS_DOMAIN_ID={os.environ.get("ROS_DOMAIN_ID")}: '
            f'publishers {shared}; set a free ROS_DOMAIN_ID and run again')


class EvalRunner:
    """Run (task, mode, backend, seed) episodes on the embedded simulator and judge them."""

    def __init__(self, suite: Suite, out_dir: Path, settings: EvalSettings | None = None,
                 world: World | None = None, log: Callable[[str], None] = print) -> None:
        """Prepare a run writing into ``out_dir``."""
        self.suite = suite
        self.world = world or suite.world()
        self.out_dir = Path(out_dir)
        self.settings = settings or EvalSettings()
        self.log = log
        self._backends: dict[str, LlmBackend] = {}

    def close(self) -> None:
        """Release the shared LLM backends."""
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()

    def __enter__(self) -> EvalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- backends --------------------------------------------------------------------------

    def _backend(self, name: str, task: Task, mode: str) -> LlmBackend:
        """Return the backend: replay per episode (the task's script), others shared."""
        if name == 'replay':
            script = task.replay.get(mode)
            if not script:
                raise LookupError(f'task {task.id} has no replay script for mode {mode}')
            return create_backend('replay', completions=list(script), model='reference script')
        if name not in self._backends:
            self._backends[name] = create_backend(name, **self.settings.backend_config)
        return self._backends[name]

    # -- runs ------------------------------------------------------------------------------

    def run(self, tasks: Sequence[Task], modes: Sequence[str], backends: Sequence[str],
            seeds: Sequence[int], resume: bool = False) -> list[dict[str, Any]]:
        """Run every combination; return the records (including resumed ones)."""
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f'unknown mode {mode!r}; modes: {MODES}')
        records = []
        total = len(tasks) * len(modes) * len(backends) * len(seeds)
        n = 0
        # Mode outside task: consecutive episodes share the system prompt, so llama.cpp
        # reuses its KV cache instead of processing ~2000 prompt tokens each episode.
        for backend in backends:
            for seed in seeds:
                for mode in modes:
                    for task in tasks:
                        n += 1
                        where = episode_dir(self.out_dir, backend, mode, seed, task.id)
                        done = where / 'result.json'
                        if resume and done.is_file():
                            self.log(f'[{n}/{total}] {backend} {mode} seed {seed} {task.id}: '
                                     'kept (resume)')
                            records.append(json.loads(done.read_text(encoding='utf-8')))
                            continue
                        record = self.run_episode(task, mode, backend, seed)
                        if record is not None:
                            records.append(record)
                            verdict = 'SUCCESS' if record['success'] else 'failure'
                            self.log(f'[{n}/{total}] {backend} {mode} seed {seed} {task.id}: '
                                     f'{verdict} in {record["turns"]} turns, '
                                     f'{record["seconds"]:.0f} s')
                        else:
                            self.log(f'[{n}/{total}] {backend} {mode} seed {seed} {task.id}: '
                                     f'NOT RUN, see {where / "error.json"}')
        return records

    def run_episode(self, task: Task, mode: str, backend: str,
                    seed: int) -> dict[str, Any] | None:
        """Run one episode; return its record, or None when it could not be run."""
        where = episode_dir(self.out_dir, backend, mode, seed, task.id)
        if where.exists():
            shutil.rmtree(where)  # a fresh run of this episode: no stale transcript
        where.mkdir(parents=True)
        try:
            return self._episode(task, mode, backend, seed, where)
        except (LookupError, OSError, RuntimeError, WaitTimeoutError, ValueError,
                RobotApiError) as e:
            # Infrastructure, not the model: leave error.json so a resumed run retries it.
            _write_json(where / 'error.json', {
                'task': task.id, 'mode': mode, 'backend': backend, 'seed': seed,
                'error': type(e).__name__, 'message': str(e),
                'traceback': traceback.format_exc()})
            return None

    def _episode(self, task: Task, mode: str, backend: str, seed: int,
                 where: Path) -> dict[str, Any]:
        from codeact_robot.nodes.bringup import start_embedded
        from codeact_robot.nodes.episode_monitor import EpisodeMonitor

        llm = self._backend(backend, task, mode)
        cfg = self.settings.agent
        if task.max_turns is not None:
            cfg = replace(cfg, max_turns=task.max_turns)
        sim_seed = task.seed if task.seed is not None else seed
        began = time.monotonic()
        stack = start_embedded(self.suite.world_name, task.scenario, sim_seed,
                               self.settings.real_time_factor,
                               ready_timeout=self.settings.ready_timeout)
        try:
            monitor = stack.runner.add(EpisodeMonitor(context=stack.runner.context))
            initial = monitor.wait_for_truth(TRUTH_TIMEOUT)
            check_isolated(monitor)
            startup = time.monotonic() - began
            monitor.start()
            agent = self._agent(mode, llm, stack.api, cfg, where)
            recorder = self._recorder(stack, agent, where)
            result = None
            try:
                with LoadSampler() as load:
                    result = agent.run(task.command)
            finally:
                agent.close()
                if recorder is not None:
                    transcript = result.transcript_path if result is not None else None
                    recorder.finish_episode(Path(transcript) if transcript else None)
            end = monitor.latest() or initial
            final = monitor.wait_for_truth(TRUTH_TIMEOUT, after=end.stamp + SETTLE_SIM_SECONDS)
            trajectory, events = monitor.stop()
            check_isolated(monitor)  # a result spoiled by another graph is not kept
        finally:
            stack.close()
        # A replay script that runs out without done()/fail() is the script's failure (like a
        # turn limit), not a backend failure.
        if result.error is not None and result.error != 'ReplayExhaustedError':
            # The backend failed (unreachable, or too slow for the generation timeout on a
            # busy CPU): no verdict on the model; error.json makes --resume retry it.
            raise BackendFailedError(f'{result.error}: {result.failure_reason} '
                                     f'(transcript {result.transcript_path})')
        return self._record(task, mode, backend, seed, llm, result, initial, final,
                            trajectory, events, startup, where, load.summary())

    def _recorder(self, stack: Any, agent: Any, where: Path) -> Any:
        """Start the episode's recording (``record``); return the recording view node or None."""
        if not self.settings.record:
            return None
        from codeact_robot.nodes.agent_log import AgentLogPublisher
        from codeact_robot.nodes.view_node import add_view

        view = add_view(stack.runner, self.world)
        agent.on_event = AgentLogPublisher(stack.client)  # the turns, in the recording
        view.start_episode(where)
        return view

    def _agent(self, mode: str, llm: LlmBackend, robot: Any, cfg: AgentConfig,
               where: Path) -> Any:
        if mode == 'codeact':
            from codeact_robot.agent import CodeActAgent
            return CodeActAgent(llm=llm, robot=robot, world=self.world, config=cfg,
                                runs_dir=where)
        from codeact_robot.agent.json_agent import JsonToolAgent
        return JsonToolAgent(llm=llm, robot=robot, world=self.world, config=cfg, runs_dir=where)

    def _record(self, task: Task, mode: str, backend: str, seed: int, llm: LlmBackend,
                result: EpisodeResult, initial: predicates.GroundTruth,
                final: predicates.GroundTruth, trajectory: list[predicates.GroundTruth],
                events: list[predicates.SafetyIntervention], startup: float,
                where: Path, machine_load: dict[str, Any] | None = None) -> dict[str, Any]:
        outcome = agent_outcome(result)
        facts = predicates.EpisodeFacts(
            final=final, initial=initial, trajectory=trajectory,
            answer=result.summary, outcome=outcome, safety_events=events,
            seconds=result.seconds, turns=result.turns)
        checks = predicates.evaluate(list(task.success), facts, self.world)
        ignored = set()
        for entry in task.success:
            spec = entry.get('no_safety_intervention')
            if isinstance(spec, dict):
                ignored |= set(spec.get('ignore', ()))
        transcript = (os.path.relpath(result.transcript_path, self.out_dir)
                      if result.transcript_path else None)
        record = {
            'task': task.id, 'category': task.category, 'command': task.command,
            'scenario': task.scenario, 'mode': mode, 'backend': backend, 'model': llm.model,
            'seed': seed, 'success': all(c.passed for c in checks),
            'outcome': outcome, 'agent_success': result.success, 'answer': result.summary,
            'failure_reason': result.failure_reason, 'error': result.error,
            'turns': result.turns, 'seconds': round(result.seconds, 2),
            'startup_seconds': round(startup, 2),
            'prompt_tokens': result.prompt_tokens, 'completion_tokens': result.completion_tokens,
            'safety_interventions': sum(e.kind not in ignored for e in events),
            'safety_events': [e.__dict__ for e in events],
            'safety_events_by_kind': dict(sorted(Counter(e.kind for e in events).items())),
            'machine_load': machine_load or {},
            'checks': [c.to_dict() for c in checks],
            'initial': initial.to_dict(), 'final': final.to_dict(),
            'trajectory': [[round(g.stamp, 2), round(g.robot[0], 3), round(g.robot[1], 3)]
                           for g in trajectory],
            'transcript': transcript,
        }
        _write_json(where / 'result.json', record)
        return record
