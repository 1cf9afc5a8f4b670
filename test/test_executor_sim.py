"""The executor against the real robot stack (embedded MuJoCo simulator + skills node + ROS
client): model code drives it, and a watchdog timeout in the middle of a motion stops it."""

from __future__ import annotations

import math

import pytest
from ros_observer import Observer

from codeact_robot.executor import ExecStatus, ExecutionLimits, Executor
from codeact_robot.nodes.bringup import start_embedded

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope='module')
def stack():
    s = start_embedded(scenario='default', real_time_factor=1.0)
    s.extra['observer'] = Observer(s)
    yield s
    s.close()


def _distance(a, b) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def test_timeout_during_a_real_motion_stops_the_robot(stack):
    api = stack.api
    stops: list[str] = []

    def on_stop(reason: str) -> None:
        stops.append(reason)
        api.emergency_stop(reason)

    limits = ExecutionLimits(call_timeout_s=60.0, warm_pool=False)
    with Executor(api=api, limits=limits, on_stop=on_stop) as ex:
        res = ex.run('p = get_pose()\nprint(round(p.x, 1), round(p.y, 1))\n'
                     "print('packing station' in locations())")
        assert res.status == ExecStatus.OK, res.to_observation()
        assert res.stdout.splitlines() == ['1.2 4.0', 'True']
        start = api.get_pose()
        res = ex.run("r = go_to('packing station')\nprint(r.arrived)", timeout=3.0)
        assert res.status == ExecStatus.TIMEOUT, res.to_observation()
        assert res.robot_stopped and stops and 'timeout' in stops[-1]
        assert res.api_calls[0].name == 'go_to' and res.api_calls[0].ok is False
        assert _distance(start, api.get_pose()) > 0.05, 'it was driving when killed'
        # The stopped base comes to rest (ground truth: under 3 mm in 0.5 s of sim time) and
        # stays where the stop left it.
        stack.extra['observer'].wait_at_rest(timeout=5.0)
        res = ex.run('print(get_pose().x > 1.2)')
        assert res.status == ExecStatus.OK and res.stdout == 'True\n' and res.state_reset is False
