"""The messages of a rosbag2 bag (mcap or sqlite3) that a feature map reads, without ROS.

`rosbags.highlevel.AnyReader` reads both storage formats and deserialises with the type
definitions stored in the bag, falling back to the ROS 2 Jazzy typestore. Its messages are
dataclasses with the same field names as rclpy messages, which is all dojo_core.sync needs.
Bags name topics absolutely (`/joint_states`, `/arm1/joint_states`) while feature maps name them
relative to the robot's namespace, so topics are resolved against a namespace, as a node would.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_typestore


class BagError(ValueError):
    """A bag that cannot be converted: unreadable, or a topic with another type than the map says."""


def resolve_topic(name: str, namespace: str = '/') -> str:
    """The absolute name of ``name`` in ``namespace`` (absolute names are kept)."""
    if name.startswith('/'):
        return name
    if name.startswith('~'):
        raise BagError(f'private topic names ({name}) cannot be resolved without a node name')
    return '/' + '/'.join(part for part in (*namespace.split('/'), name) if part)


class BagSource:
    """One bag, opened for the topics in ``topics`` ({local name: expected type or None}).

    Topics of the map that the bag lacks are listed in `missing`; a topic whose type differs is a
    BagError (the feature would refuse every message anyway). Use as a context manager.
    """

    def __init__(self, path: str | os.PathLike, topics: Mapping[str, str | None], namespace: str = '/') -> None:
        self.path = Path(path)
        self._local = {resolve_topic(local, namespace): local for local in topics}
        try:
            self._reader = AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
            self._reader.open()
        except (AnyReaderError, OSError, ValueError) as exc:
            raise BagError(f'{self.path}: cannot read the bag: {exc}') from exc
        self.connections = [c for c in self._reader.connections if c.topic in self._local]
        self.types: dict[str, str] = {}
        for conn in self.connections:
            local = self._local[conn.topic]
            expected = topics[local]
            if expected is not None and conn.msgtype != expected:
                self.close()
                raise BagError(f'{self.path}: topic {conn.topic} holds {conn.msgtype}, the feature map reads '
                               f'{expected}')
            self.types[local] = conn.msgtype
        self.missing = sorted(local for local in topics if local not in self.types)

    @property
    def start_ns(self) -> int:
        """Log time of the bag's first message (of any topic)."""
        return self._reader.start_time

    @property
    def message_count(self) -> int:
        """Messages of the selected topics."""
        return sum(conn.msgcount for conn in self.connections)

    def messages(self, topics: tuple[str, ...] | None = None) -> Iterator[tuple[str, int, Any]]:
        """(local topic, log time ns, message) in log order, for all selected topics or ``topics``."""
        conns = [c for c in self.connections if topics is None or self._local[c.topic] in topics]
        if not conns:
            return
        for conn, log_ns, raw in self._reader.messages(connections=conns):
            yield self._local[conn.topic], log_ns, self._reader.deserialize(raw, conn.msgtype)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
