"""A small Foxglove WebSocket client that subscribes to every channel and decodes ROS 2 messages.

What the Foxglove app does when it connects to the live view, without the app: the tests and
the view benchmark watch an episode through it. It speaks the SDK's subprotocol
(``foxglove.sdk.v1``), subscribes to each advertised channel and decodes its ``cdr`` messages
with the channel's ``ros2msg`` schema (``mcap-ros2-support``).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from typing import Any

from mcap.records import Schema
from mcap_ros2.decoder import DecoderFactory

SUBPROTOCOL = 'foxglove.sdk.v1'
MESSAGE_DATA = 1  # binary opcode: subscription id (u32), log time (u64), payload


class ViewClient:
    """Connect to ``ws://host:port``, subscribe to everything, keep what arrives by topic."""

    def __init__(self, port: int, host: str = '127.0.0.1', decode: bool = True,
                 timeout: float = 10.0) -> None:
        from websockets.sync.client import connect

        self._connection = connect(f'ws://{host}:{port}', subprotocols=[SUBPROTOCOL],
                                   open_timeout=timeout)
        self.ws = self._connection.__enter__()
        self._decode = decode
        self.channels: dict[int, dict[str, Any]] = {}
        self._decoders: dict[int, Any] = {}
        self._by_subscription: dict[int, int] = {}
        #: Decoded messages by topic (raw payloads when ``decode`` is False).
        self.received: dict[str, list[Any]] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name='view-client', daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except Exception as e:  # noqa: BLE001 - the connection closed: say why, stop
                if not self._stop.is_set():
                    self.errors.append(repr(e))
                return
            if isinstance(frame, str):
                self._on_json(json.loads(frame))
            elif frame[0] == MESSAGE_DATA:
                subscription, _log_time = struct.unpack_from('<IQ', frame, 1)
                channel = self.channels[self._by_subscription[subscription]]
                payload = frame[13:]
                msg = self._decoders[channel['id']](payload) if self._decode else payload
                self.received.setdefault(channel['topic'], []).append(msg)

    def _on_json(self, message: dict[str, Any]) -> None:
        if message.get('op') != 'advertise':
            return
        subscriptions = []
        for channel in message['channels']:
            self.channels[channel['id']] = channel
            if self._decode:
                if channel.get('schemaEncoding') != 'ros2msg' or channel['encoding'] != 'cdr':
                    self.errors.append(f'{channel["topic"]}: not a ROS 2 channel')
                    continue
                schema = Schema(id=channel['id'], name=channel['schemaName'],
                                encoding='ros2msg', data=channel['schema'].encode())
                self._decoders[channel['id']] = DecoderFactory().decoder_for('cdr', schema)
            subscription = len(self._by_subscription) + 1
            self._by_subscription[subscription] = channel['id']
            subscriptions.append({'id': subscription, 'channelId': channel['id']})
        self.ws.send(json.dumps({'op': 'subscribe', 'subscriptions': subscriptions}))

    def wait_for(self, topics: list[str], timeout: float) -> None:
        """Wait until a message of each topic arrived; raise TimeoutError naming the missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.received.get(t) for t in topics):
                return
            time.sleep(0.1)
        missing = [t for t in topics if not self.received.get(t)]
        raise TimeoutError(f'no {missing} within {timeout} s; received {sorted(self.received)}'
                           + (f'; errors {self.errors}' if self.errors else ''))

    def close(self) -> None:
        """Close the connection and stop the receiving thread."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._connection.__exit__(None, None, None)

    def __enter__(self) -> ViewClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
