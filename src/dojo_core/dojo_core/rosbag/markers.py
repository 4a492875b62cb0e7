"""Episode markers: a topic in a bag that says where episodes start and stop.

A bag may hold a whole session rather than one episode; a teleop pedal, a GUI or a script then
publishes markers on a topic of its choice, and `dojo convert --episode-marker-topic` splits the
bag where they are logged (the marker's log time is what counts, like a live start/stop service
call):

* std_msgs/msg/Bool: ``true`` starts an episode, ``false`` stops and saves it;
* std_msgs/msg/String: ``start``, ``stop`` (save) or ``discard`` (case and surrounding blanks ignored).

A stop behaves like the recorder node's stop_episode service: the episode ends at the marker's
log time but still takes the messages stamped before it that are logged within the feature map's
`latency` after it. A start while an episode is recording saves that one at once and starts the
next (so a bag of bare ``start`` pulses splits into back-to-back episodes); a stop or discard with
nothing recording is ignored; an episode still recording at the end of a bag is saved, since
episodes never span bags. Any other value is ignored and counted.
"""
from __future__ import annotations

import enum
from typing import Any

BOOL = 'std_msgs/msg/Bool'
STRING = 'std_msgs/msg/String'
#: Message types a marker topic may have.
MARKER_TYPES = (BOOL, STRING)


class MarkerAction(enum.Enum):
    START = 'start'
    STOP = 'stop'
    DISCARD = 'discard'


def marker_action(msgtype: str, msg: Any) -> MarkerAction | None:
    """What a marker message asks for, or None for a value that means nothing."""
    if msgtype == BOOL:
        return MarkerAction.START if msg.data else MarkerAction.STOP
    if msgtype == STRING:
        try:
            return MarkerAction(str(msg.data).strip().lower())
        except ValueError:
            return None
    raise ValueError(f'episode markers must be one of {MARKER_TYPES}, got {msgtype}')
