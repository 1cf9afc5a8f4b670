"""NodeRunner spins real nodes over DDS (localhost) and shuts down cleanly."""

import pytest
from std_msgs.msg import String

from codeact_robot.nodes.runner import NodeRunner, WaitTimeoutError, wait_for

pytestmark = pytest.mark.ros


def test_pub_sub_round_trip_between_two_nodes():
    received: list[str] = []
    with NodeRunner() as runner:
        from rclpy.node import Node
        talker = runner.add(Node('talker', context=runner.context))
        listener = runner.add(Node('listener', context=runner.context))
        listener.create_subscription(String, 'chatter', lambda m: received.append(m.data), 10)
        pub = talker.create_publisher(String, 'chatter', 10)
        wait_for(lambda: pub.get_subscription_count() > 0, 10.0, 'discovery')
        wait_for(lambda: pub.publish(String(data='hello')) or received, 10.0, 'a message')
    assert received[0] == 'hello'


def test_wait_for_raises_after_its_bound():
    with pytest.raises(WaitTimeoutError, match='never'):
        wait_for(lambda: False, 0.1, 'never')


def test_spinning_survives_a_subscription_destroyed_while_waiting():
    received: list[str] = []
    with NodeRunner() as runner:
        from rclpy.node import Node
        node = runner.add(Node('churn', context=runner.context))
        pub = node.create_publisher(String, 'churn_topic', 10)
        node.create_subscription(String, 'churn_topic', lambda m: received.append(m.data), 10)
        # create and destroy subscriptions while the executor thread waits on them
        for _ in range(200):
            node.destroy_subscription(node.create_subscription(String, 'other', print, 1))
        wait_for(lambda: pub.publish(String(data='alive')) or received, 10.0,
                 'a message after the churn')
    assert received[0] == 'alive'
