"""The episode protocol of the sim cell, and its numbers in one place.

Every client that runs episodes on the cell — the scripted expert (ROS-free `dojo_core.expert.run_episode`
and the `pick_place_expert` node, which also drives the recorder), `dojo eval` through policy_node
and the ROS-free rollouts — follows the same steps: reset (a new cube pose), wait until every
stream it reads has delivered observations from after the reset, run, then judge success or the
time limit. The numbers are module constants so that node parameters, CLI options and dataclass
defaults all start from them.
"""
from __future__ import annotations

#: Sim seconds after the expert's plan ends for a dropped cube to come to rest in the bin before
#: success is judged.
SETTLE_TIME_S = 1.5
#: Sim seconds a policy episode may run before it counts as failed (the expert needs about 10).
TIME_LIMIT_S = 30.0


def fresh_messages(queue_depth: int) -> int:
    """Messages of a stream that must arrive after the reset's answer before its state counts as fresh.

    A subscription's queue can still hold `queue_depth` messages published before the reset when the
    answer arrives, so the newest of depth + 2 more messages is certainly from after it.
    """
    if queue_depth < 1:
        raise ValueError(f'a subscription queue holds at least one message, got depth {queue_depth}')
    return queue_depth + 2
