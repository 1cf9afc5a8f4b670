"""RosRobotApi on the embedded simulator: perception, grasp-carry-release, utilities, stop.

Real rclpy over DDS, real MuJoCo with the camera rendering, the perception engineer's
PerceptionSkill and GraspSkill behind the skills node. Ground truth is read by the test only.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from ros_observer import SPEED_LIMIT, Observer
from std_msgs.msg import String

from codeact_robot.api.errors import InvalidArgumentError, NotFoundError, UnknownPlaceError
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.ros_robot_api import RosRobotApi
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world

pytestmark = pytest.mark.ros
WORLD = load_world('warehouse')


@pytest.fixture(scope='module')
def stack():
    # Twice real time: the skills run on the simulator's clock; the camera renders on demand.
    s = start_embedded(scenario='default', real_time_factor=2.0)
    obs = Observer(s)
    s.extra['observer'] = obs
    yield s
    s.close()
    print(f'max ground-truth speed in test_robot_api: {obs.max_speed:.3f} m/s')
    assert obs.max_speed <= SPEED_LIMIT * 1.05


@pytest.fixture
def obs(stack) -> Observer:
    return stack.extra['observer']


def test_the_facade_implements_every_llm_function_with_docs():
    for name in RobotApi.LLM_FUNCTIONS:
        fn = getattr(RosRobotApi, name)
        assert not getattr(fn, '__isabstractmethod__', False), name
        assert fn.__doc__ and fn.__doc__.strip(), name


def test_locations_pose_and_unknown_place(stack, obs):
    api = stack.api
    places = api.locations()
    assert {'shelf B', 'packing station', 'charging dock'} <= set(places)
    pose = api.get_pose()
    x, y, th = obs.robot()
    assert math.dist((pose.x, pose.y), (x, y)) < 0.1
    with pytest.raises(UnknownPlaceError) as err:
        api.go_to('loading bay')
    assert 'shelf B' in str(err.value) and 'loading bay' in str(err.value)
    assert api.blocked_aisles() == []


def test_say_is_published(stack, obs):
    heard: list[str] = []
    sub = obs.node.create_subscription(String, '/say', lambda m: heard.append(m.data), 10)
    try:
        wait_for(lambda: stack.api._say_pub.get_subscription_count() > 0, 5.0, 'a listener')
        stack.api.say('hello from the robot')
        wait_for(lambda: heard, 5.0, '/say')
    finally:
        obs.node.destroy_subscription(sub)
    assert heard == ['hello from the robot']


def test_perceive_in_front_of_shelf_b_finds_the_red_box_and_its_marker(stack, obs):
    api = stack.api
    result = api.go_to('shelf B')
    assert result.arrived, result.message
    detections = api.perceive()
    print(detections)
    red = [d for d in detections if d.color == 'red']
    assert [d.label for d in red] == ['red box'], detections
    truth = obs.object_xy('red box')
    error = math.dist((red[0].x, red[0].y), truth)
    print(f'red box map-position error {error:.3f} m')
    assert error < 0.15
    assert red[0].marker_id == WORLD.box('red box').marker_id
    assert 0.0 < red[0].distance < 2.0 and 0.0 <= red[0].confidence <= 1.0
    assert [d.distance for d in detections] == sorted(d.distance for d in detections)


@pytest.mark.slow
def test_grasp_carry_release_delivers_the_red_box_to_the_packing_station(stack, obs):
    api = stack.api
    assert api.go_to('shelf B').arrived
    # Errors that tell the model what to do next.
    with pytest.raises(NotFoundError, match='go_to the shelf'):
        api.grasp('purple')  # on the floor elsewhere: not in view from shelf B
    with pytest.raises(InvalidArgumentError, match='colour'):
        api.grasp('pink')
    assert not api.holding()
    assert api.grasp('red') is True
    assert api.holding()
    assert obs.truth.held == 'red box'
    result = api.go_to('packing station')
    assert result.arrived, result.message
    api.release()
    wait_for(lambda: not api.holding(), 5.0, 'suction released')
    wait_for(lambda: obs.truth.held == '', 5.0, 'the box let go (ground truth)')
    obs.wait_at_rest('red box')
    x, y = obs.object_xy('red box')
    zone = next(s for s in WORLD.stations if s.name == 'packing station').drop_zone
    print(f'red box delivered at ({x:.2f}, {y:.2f}); drop zone {zone}')
    assert zone.contains(x, y)
    assert api.move(-0.5).arrived


def test_emergency_stop_from_another_thread_ends_motion(stack, obs):
    api = stack.api
    box: dict[str, object] = {}

    def drive():
        box['result'] = api.move_to(2.5, 4.0)

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    wait_for(lambda: any(abs(v) > 0.05 or abs(w) > 0.05
                         for _, v, w in obs.cmds_since(time.monotonic() - 0.2)), 30.0, 'motion')
    caller = threading.Thread(target=api.emergency_stop, args=('watchdog timeout',))
    caller.start()
    caller.join(2.0)
    assert not caller.is_alive(), 'emergency_stop must not block'
    t.join(10.0)
    assert not t.is_alive()
    assert box['result'].status in ('canceled', 'safety_stop')
    assert not math.isnan(api.get_pose().x)
