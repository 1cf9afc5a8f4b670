"""ROS-level fuzz: malformed goals sent straight to the skills node's actions and services.

Not through the Python API (which validates first): a plain ROS client sends MoveTo, Drive,
Grasp and PlanRoute requests with NaN, infinities, huge, negative and out-of-map values, keep-out
targets, bad names, from several threads at once and cancelled right after sending. Every one
must be refused before any velocity command, with a /safety/events entry, and the node must
still serve a good goal afterwards. (The goals carry no frame ids, so there is no wrong frame to
send: positions are always in the map frame.)
"""

from __future__ import annotations

import math
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rclpy.node import Node
from ros_observer import SPEED_LIMIT, Observer

from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.action import Drive, Grasp, MoveTo
from codeact_robot_interfaces.srv import PlanRoute

pytestmark = pytest.mark.ros
WORLD = load_world('warehouse')
BAD_NUMBERS = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1e9]
REFUSED_MOVE = {MoveTo.Result.INVALID, MoveTo.Result.REFUSED}
REFUSED_DRIVE = {Drive.Result.INVALID, Drive.Result.REFUSED}
N_GOALS = 520


def _keep_out_centres() -> list[tuple[float, float]]:
    return [((z.rect.xmin + z.rect.xmax) / 2, (z.rect.ymin + z.rect.ymax) / 2)
            for z in WORLD.keep_out]


def _malformed_requests(rng: random.Random) -> list[tuple[str, object]]:
    """Return (kind, request) pairs; each request has at least one field a robot must refuse."""
    start = WORLD.places['start']
    good = (start.x + 1.0, start.y)
    outside = [(-50.0, 4.0), (500.0, -3.0), (WORLD.bounds.xmax + 3.0, 2.0)]
    out: list[tuple[str, object]] = []
    while len(out) < N_GOALS:
        kind = rng.choice(['move_to', 'move_to', 'drive', 'grasp', 'plan_route'])
        if kind == 'move_to':
            goal = MoveTo.Goal(x=good[0], y=good[1], theta=0.0, use_theta=rng.random() < 0.5,
                               speed=0.2, avoid=[])
            flaw = rng.choice(['x', 'y', 'theta', 'speed', 'avoid', 'outside', 'keep_out'])
            if flaw in ('x', 'y'):
                setattr(goal, flaw, rng.choice(BAD_NUMBERS))
            elif flaw == 'theta':
                goal.theta, goal.use_theta = rng.choice(BAD_NUMBERS + [100.0]), True
            elif flaw == 'speed':
                goal.speed = rng.choice(BAD_NUMBERS + [-1.0, 5.0])
            elif flaw == 'avoid':
                goal.avoid = rng.choice([['aisle 9'], ['x' * 5000], [''], ['aisle 1'] * 500])
            else:
                goal.x, goal.y = rng.choice(outside if flaw == 'outside' else _keep_out_centres())
            out.append((kind, goal))
        elif kind == 'drive':
            goal = Drive.Goal(distance=0.3, angle=0.0, speed=0.2)
            flaw = rng.choice(['distance', 'angle', 'speed'])
            setattr(goal, flaw, rng.choice(BAD_NUMBERS + ([-100.0] if flaw != 'speed'
                                                          else [-1.0, 5.0])))
            out.append((kind, goal))
        elif kind == 'grasp':
            out.append((kind, Grasp.Goal(target=rng.choice(
                ['', 'x' * 100_000, '9' * 5000, 'pink', '\x00red', 'marker 99']))))
        else:
            x, y = rng.choice([(math.nan, 1.0), (1.0, math.inf), (-1e300, 0.0)]
                              + outside + _keep_out_centres())
            out.append((kind, PlanRoute.Request(x=x, y=y, avoid=[])))
    return out


@pytest.fixture(scope='module')
def stack():
    s = start_embedded(scenario='default', real_time_factor=1.0,
                       sim_params={'enable_camera': False})
    yield s
    s.close()


def _result(client: ActionClient, goal: object, cancel: bool, timeout: float = 20.0) -> object:
    done = threading.Event()
    fut = client.send_goal_async(goal)
    fut.add_done_callback(lambda _f: done.set())
    assert done.wait(timeout), 'the goal was not answered'
    handle = fut.result()
    if not handle.accepted:
        return None
    if cancel:
        handle.cancel_goal_async()
    done.clear()
    res = handle.get_result_async()
    res.add_done_callback(lambda _f: done.set())
    assert done.wait(timeout), 'no result'
    return res.result().result


def test_malformed_goals_are_refused_before_any_motion_and_the_node_keeps_serving(stack):
    obs = Observer(stack)
    node: Node = stack.runner.add(Node('fuzzer', context=stack.runner.context))
    clients = {'move_to': ActionClient(node, MoveTo, '/skills/move_to'),
               'drive': ActionClient(node, Drive, '/skills/drive'),
               'grasp': ActionClient(node, Grasp, '/skills/grasp')}
    plan = node.create_client(PlanRoute, '/skills/plan_route')
    for client in clients.values():
        assert client.wait_for_server(timeout_sec=10.0)
    assert plan.wait_for_service(timeout_sec=10.0)
    requests = _malformed_requests(random.Random(7))
    n_events = len(obs.events)
    obs.wait_at_rest()
    t0 = obs.cmds[-1][0] if obs.cmds else 0.0

    def send(item: tuple[int, tuple[str, object]]) -> tuple[str, object]:
        i, (kind, request) = item
        if kind == 'plan_route':
            done = threading.Event()
            fut = plan.call_async(request)
            fut.add_done_callback(lambda _f: done.set())
            assert done.wait(20.0)
            return kind, fut.result()
        return kind, _result(clients[kind], request, cancel=i % 7 == 0)

    # Four senders at once: goals overlap, and every seventh is cancelled as soon as sent.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, enumerate(requests)))

    moved = [c for c in obs.cmds if c[0] > t0 and (c[1] != 0.0 or c[2] != 0.0)]
    assert not moved, f'{len(moved)} non-zero /cmd_vel during the fuzz: {moved[:3]}'
    assert obs.max_speed < 0.02, obs.max_speed
    for kind, answer in answers:
        assert answer is not None, kind
        if kind == 'move_to':
            assert answer.status in REFUSED_MOVE | {MoveTo.Result.CANCELED}, answer
        elif kind == 'drive':
            assert answer.status in REFUSED_DRIVE | {Drive.Result.CANCELED}, answer
        elif kind == 'grasp':
            assert answer.status in (Grasp.Result.INVALID, Grasp.Result.CANCELED), answer
            assert len(answer.message) < 500
        else:
            assert answer.status in (PlanRoute.Response.INVALID, PlanRoute.Response.REFUSED,
                                     PlanRoute.Response.NO_PATH), answer
    refused = sum(1 for kind, a in answers if kind != 'plan_route'
                  and 'cancel' not in a.message.lower())
    events = wait_for(lambda: len(obs.events_since(n_events)) >= refused and
                      obs.events_since(n_events), 10.0, 'a safety event per refused goal')
    print(f'{len(answers)} malformed goals, {refused} refused goals, {len(events)} events')
    assert len(answers) >= 500
    # Still serving: a good goal drives, within the speed limit.
    good = _result(clients['drive'], Drive.Goal(distance=0.3, angle=0.0, speed=0.0), False)
    assert good.status == Drive.Result.DONE, good
    assert obs.max_speed <= SPEED_LIMIT * 1.05
