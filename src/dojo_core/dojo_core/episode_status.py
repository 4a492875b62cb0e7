"""What a recorder client asks when a reply may have been lost: was episode K saved?

A client that calls stop_episode cannot tell, when the recorder dies during the call, whether the
episode was committed before it died (the episodes parquet is the commit point, and saves commit in
episode order). So every reply that concerns an episode starts with ``episode <index>``, and the
recorder answers ``~/episode_status`` (std_srvs/Trigger) with a JSON object, also after a restart
on the same dataset, from which the client decides: episode K was saved iff ``episodes_saved > K``.

Status fields: recording (an episode is being recorded), episode_index (that episode, else the
next one), episodes_saved (episodes committed in the dataset), last (the most recent episode this
recorder process finished: index, saved, frames, message; null after a restart).
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # clients import this module without the dataset stack that recording pulls in
    from dojo_core.recording import SessionStatus

#: The recorder's status service, relative to the recorder node (std_srvs/Trigger).
STATUS_SERVICE = 'episode_status'
_EPISODE = re.compile(r'^episode (\d+) ')


def status_json(status: SessionStatus) -> str:
    """The ``episode_status`` reply of a recorder whose session is in ``status``."""
    last = status.last
    return json.dumps({
        'recording': status.recording, 'episode_index': status.episode_index,
        'episodes_saved': status.saved_episodes,
        'last': None if last is None else {'index': last.index, 'saved': last.saved, 'frames': last.frames,
                                           'message': last.message()},
    })


def reply_episode(message: str) -> int | None:
    """The episode index a start/stop/discard reply is about (None for a refusal without one)."""
    found = _EPISODE.match(message)
    return int(found[1]) if found else None


def was_saved(status_message: str, index: int) -> bool:
    """Whether episode ``index`` is committed, from an ``episode_status`` reply."""
    return int(json.loads(status_message)['episodes_saved']) > index
