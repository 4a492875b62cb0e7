"""Lifecycle helpers: a managed node that survives refused transitions, and a client that drives one.

Node side: rclpy 7.1 (Jazzy) lets the state machine's error for a change_state request that the
current state does not allow (activate while unconfigured, say) escape the service callback and
the executor, which kills the node (ros2/rclpy#1209, fixed upstream by checking first).
`ros2 lifecycle set` checks before calling, but a plain service call must not take down a node
that commands motors; :func:`refuse_invalid_transitions` answers success=False instead.

Client side: :class:`LifecycleClient` walks another node through its primary states over the
standard `<node>/change_state` and `<node>/get_state` services, for harnesses and tests that start
nodes as processes (`dojo eval`, the node tests).
"""
from __future__ import annotations

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node

#: What the lifecycle state machine raises for a transition the current state does not allow.
RCLError = rclpy_implementation.RCLError

#: Primary states in the order `configure` and `activate` walk them.
PRIMARY_STATES = ('unconfigured', 'inactive', 'active')
_UP = {'unconfigured': Transition.TRANSITION_CONFIGURE, 'inactive': Transition.TRANSITION_ACTIVATE}
_DOWN = {'active': Transition.TRANSITION_DEACTIVATE, 'inactive': Transition.TRANSITION_CLEANUP}
_SHUTDOWN = {'unconfigured': Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
             'inactive': Transition.TRANSITION_INACTIVE_SHUTDOWN,
             'active': Transition.TRANSITION_ACTIVE_SHUTDOWN}


def refuse_invalid_transitions(node: LifecycleNode) -> None:
    """Make `node`'s change_state service answer success=False to a transition its state does not allow."""
    service = node._service_change_state
    change_state = service.callback

    def guarded(request: ChangeState.Request, response: ChangeState.Response) -> ChangeState.Response:
        try:
            return change_state(request, response)
        except RCLError as exc:
            state = node._state_machine.current_state[1]
            node.get_logger().warning(f'refused lifecycle transition {request.transition.id} '
                                      f'{request.transition.label!r} in state {state}: {exc}')
            response.success = False
            return response

    service.callback = guarded


class LifecycleClient:
    """Drives the lifecycle node `target` from `node`, spinning `node` while it waits for answers.

    `node` must not be spun by another executor meanwhile (the calls spin it themselves).
    """

    def __init__(self, node: Node, target: str) -> None:
        self.node = node
        self.target = target
        self._change = node.create_client(ChangeState, f'{target}/change_state')
        self._get = node.create_client(GetState, f'{target}/get_state')

    def wait_for_services(self, timeout_s: float) -> bool:
        return all(client.wait_for_service(timeout_sec=timeout_s) for client in (self._change, self._get))

    def state(self, timeout_s: float = 10.0) -> str:
        """The target's current state label ('unconfigured', 'inactive', 'active', 'finalized', ...)."""
        answer = self._call(self._get, GetState.Request(), timeout_s)
        return answer.current_state.label

    def transition(self, transition_id: int, timeout_s: float = 30.0) -> bool:
        """Request one transition (lifecycle_msgs/Transition id); True if the target reports success."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return bool(self._call(self._change, request, timeout_s).success)

    def go(self, state: str, timeout_s: float = 30.0) -> bool:
        """Walk the target from its current primary state to `state` (one of PRIMARY_STATES, or
        'finalized' for shutdown); False as soon as a transition fails."""
        current = self.state(timeout_s)
        if state == 'finalized':
            return current == state or (current in _SHUTDOWN and self.transition(_SHUTDOWN[current], timeout_s))
        if state not in PRIMARY_STATES:
            raise ValueError(f'state must be one of {PRIMARY_STATES} or finalized, got {state!r}')
        while current != state:
            if current not in PRIMARY_STATES:
                return False
            up = PRIMARY_STATES.index(state) > PRIMARY_STATES.index(current)
            if not self.transition((_UP if up else _DOWN)[current], timeout_s):
                return False
            current = self.state(timeout_s)
        return True

    def _call(self, client, request, timeout_s: float):
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise TimeoutError(f'no {client.srv_name} service after {timeout_s:g} s')
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=timeout_s)
        if not future.done():
            client.remove_pending_request(future)
            raise TimeoutError(f'{client.srv_name} did not answer within {timeout_s:g} s')
        return future.result()
