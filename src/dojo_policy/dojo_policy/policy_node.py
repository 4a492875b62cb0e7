"""policy_node: a learned policy commanding the arm from ROS topics, as a lifecycle node over dojo_core.serving.

Lifecycle (`ros2 lifecycle set /policy_node <transition>`; `autostart` does configure + activate):

* configure: load the checkpoint (`checkpoint`: a local directory or a Hub repo id) and the feature
  map embedded in it (the map its training data was recorded with; `feature_map` overrides it and
  must then agree with it: names, shapes, units, fps, one error line naming the mismatch), check
  that it gives the policy exactly the inputs it was trained on (names, shapes) and takes its
  action joints back (every mismatch listed in the error), read the
  URDF limits, start the inference thread (one warm-up inference) and subscribe to the mapped topics;
* activate: start a run (fresh step count, no queued actions, the measured position as the
  reference of the first command) and the control timer at `control_rate_hz`;
* deactivate: stop publishing at once (the robot's controller holds the last target);
* cleanup / shutdown: drop the subscriptions, publishers, inference thread and model.

`~/enable` (std_srvs/SetBool) pauses (no new commands) and resumes (a new run) without a
transition. Diagnostics: inference latency p50/p99, control rate (node clock and wall), holds by
reason, clamps and step-limited commands by joint, refused messages by reason.

Threading: one executor thread runs every callback (subscriptions only convert and store
messages; the control timer, on the node clock so use_sim_time is honoured, builds the
observation, hands it to the inference thread without waiting, executes the current chunk and
publishes; lifecycle, enable, diagnostics), so callbacks never overlap and no command goes out
after deactivate or disable returns. The model runs in its own worker thread (see
dojo_core.serving.PolicyController). No callback blocks for long, so a second executor thread would buy
nothing, and rclpy's MultiThreadedExecutor costs the other threads of the process the GIL for
up to ~150 ms at a time (measured with VGA images at 30 Hz), which is control-loop jitter.

Safety, always on: targets clamped to the URDF limits, at most `max_step_rad` per step from the
previous command, and the last command held when an observation is older than `max_obs_age` or
the model output is NaN/inf.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import torch
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import String
from std_srvs.srv import SetBool

from dojo_core.policies import load_policy
from dojo_core.robot.description import ARM_JOINTS, expand_xacro, joint_limits
from dojo_core.serving import WAITING, PolicyController, ServingConfig, bind_features, resolve_feature_map
from dojo_core.sync import task_text
from dojo_policy.commands import COMMAND_TYPES, CommandOutput, default_topic
from dojo_ros.diagnostics import DiagnosticsPublisher, RateMeter, TaskResult
from dojo_ros.lifecycle import refuse_invalid_transitions
from dojo_ros.messages import message_class
from dojo_ros.params import declare_parameters
from dojo_ros.qos import LATCHED_QOS, SENSOR_QOS
from dojo_ros.runner import run_node

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
#: Timer calls per control period; the controller acts once per step. Under use_sim_time the node
#: clock moves in /clock increments of one sim control period (+-1 ns of rounding), and a timer of
#: exactly that period misses about every fourth of them.
TIMER_OVERSAMPLING = 2


@dataclass
class PolicyNodeConfig(ServingConfig):
    """Read again at every configure: change them, then cleanup + configure. The serving fields
    (rate, execution, thresholds, safety) are dojo_core.serving.ServingConfig's, shared with the
    ROS-free rollouts."""

    checkpoint: str = field(default='', metadata={
        'description': 'Policy checkpoint: a local directory (config.json + model.safetensors) or a Hugging Face '
                       'Hub repo id. Required at configure.'})
    revision: str = field(default='', metadata={'description': 'Hub revision of the checkpoint; empty = main.'})
    device: str = field(default='auto', metadata={
        'description': 'Torch device of the model (cpu, cuda, cuda:1, ...); auto = cuda when available.'})
    inference_threads: int = field(default=1, metadata={
        'description': 'Torch intra-op threads for CPU inference; 0 = torch default. One by default: beside the '
                       "node's own callbacks and the camera streams, a second thread made Diffusion's 10-step "
                       'inference slower on 2 cores (p50 340 vs 155 ms, benchmarks/policy_loop.py).',
        'range': (0, 256)})
    feature_map: str = field(default='', metadata={
        'description': 'Feature map (topics -> policy features): empty = the one embedded in the checkpoint (the '
                       'map its training data was recorded with). A name in config/features of dojo_bringup or a '
                       'YAML path overrides it, and must then agree with the checkpoint (names, shapes, units, fps).'})
    urdf_file: str = field(default='', metadata={
        'description': 'URDF/xacro whose joint limits bound every command; empty = the installed SO-101.'})
    command_type: str = field(default='joint_state', metadata={
        'description': f'Command message, one of {COMMAND_TYPES}: sensor_msgs/JointState by name, '
                       'std_msgs/Float64MultiArray to a forward_position_controller, trajectory_msgs/JointTrajectory '
                       'to a joint_trajectory_controller.'})
    command_topic: str = field(default='', metadata={
        'description': "Command topic; empty = the feature map's action topic (joint_state), "
                       'forward_position_controller/commands or joint_trajectory_controller/joint_trajectory.'})
    controller_joints: list[str] = field(default_factory=lambda: list(ARM_JOINTS), metadata={
        'description': "Controller command types: the controller's joints, in its order."})
    gripper_topic: str = field(default='gripper_controller/commands', metadata={
        'description': 'Controller command types: Float64MultiArray topic of the action joints not in '
                       'controller_joints (the gripper).'})
    start_enabled: bool = field(default=True, metadata={
        'description': 'Whether ~/enable starts true (commands flow once active) or false.'})
    autostart: bool = field(default=False, metadata={
        'description': 'Configure and activate at start-up instead of waiting for `ros2 lifecycle set`.',
        'read_only': True})
    diagnostics_period_s: float = field(default=1.0, metadata={
        'description': 'Period of /diagnostics (s, node clock).', 'range': (0.01, 60.0), 'read_only': True})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.command_type not in COMMAND_TYPES:
            raise ValueError(f'command_type must be one of {COMMAND_TYPES}, got {self.command_type!r}')

    def torch_device(self) -> str:
        if self.device == 'auto':
            return 'cuda' if torch.cuda.is_available() else 'cpu'
        return self.device


class PolicyNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('policy_node', **kwargs)
        self.cfg = declare_parameters(self, PolicyNodeConfig)
        refuse_invalid_transitions(self)
        self.state = 'unconfigured'
        self._enabled = self.cfg.start_enabled
        self._active = False
        self._controller: PolicyController | None = None
        self._output: CommandOutput | None = None
        self._subscriptions_made: list = []
        self._timer = None
        self._failure: str | None = None
        self._summary: dict[str, object] = {}
        self._rate_hz = 0.0
        self.rate = RateMeter()        # control ticks, node clock
        self.wall_rate = RateMeter()   # control ticks, wall clock
        self.create_service(SetBool, '~/enable', self._on_enable)
        self.diagnostics = DiagnosticsPublisher(self, hardware_id='dojo_policy', period_s=self.cfg.diagnostics_period_s)
        self.diagnostics.add_task('control', self._diagnose_control)
        self.diagnostics.add_task('inference', self._diagnose_inference)

    # -- process ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.cfg.autostart and self.trigger_configure() == SUCCESS:
            self.trigger_activate()

    def stop(self) -> None:
        """Ctrl-C / SIGTERM: stop commanding, stop the inference thread."""
        self._release()

    # -- lifecycle transitions --------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as exc:  # noqa: BLE001 - any reason the policy cannot run is a clean FAILURE
            self._release()
            self._failure = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'configure failed: {self._failure}')
            self.diagnostics.publish_now()
            return FAILURE
        self._failure = None
        self.state = 'inactive'
        self.diagnostics.publish_now()
        return SUCCESS

    def _configure(self) -> None:
        self.cfg = cfg = declare_parameters(self, PolicyNodeConfig)
        if not cfg.checkpoint:
            raise ValueError('parameter checkpoint is empty: give a checkpoint directory or a Hub repo id')
        if cfg.inference_threads:
            torch.set_num_threads(cfg.inference_threads)
        policy = load_policy(cfg.checkpoint, device=cfg.torch_device(), revision=cfg.revision or None)
        features, source = resolve_feature_map(cfg.checkpoint, policy.config, cfg.feature_map)
        binding = bind_features(policy.config, features, source=source)
        limits = joint_limits(expand_xacro(cfg.urdf_file or None), binding.joints)
        controller = PolicyController(policy, binding, cfg, limits, fallback_fps=features.fps)
        rate = controller.rate_hz
        # Kept as soon as made, so that a failure further on releases them (on_configure -> _release).
        self._controller, self._rate_hz = controller, rate
        if policy.config.fps and abs(rate - policy.config.fps) > 1e-6:
            self.get_logger().warning(f'control_rate_hz {rate:g} differs from the policy fps {policy.config.fps:g}: '
                                      'its actions play at the control rate')
        output = CommandOutput(self, cfg.command_type, binding.joints,
                               topic=cfg.command_topic or default_topic(cfg.command_type, binding.action.topic),
                               controller_joints=cfg.controller_joints, gripper_topic=cfg.gripper_topic,
                               period_s=1.0 / rate)
        self._output = output
        warm_up = controller.warm_up()
        for topic, type_name in controller.observations.topics().items():
            self._subscriptions_made.append(self.create_subscription(
                message_class(type_name), topic, lambda msg, t=topic: self._on_message(controller, t, msg),
                SENSOR_QOS))
        if features.task_topic:
            self._subscriptions_made.append(self.create_subscription(
                String, features.task_topic, lambda msg: setattr(controller.observations, 'task', task_text(msg)),
                LATCHED_QOS))
        self._summary = {'checkpoint': cfg.checkpoint, 'policy_type': policy.config.type,
                         'device': str(policy.device), 'execution': controller.execution_text, 'rate_hz': rate,
                         'warm_up_ms': warm_up * 1e3, 'feature_map': source, 'commands': output.describe()}
        self.get_logger().info(
            f'{policy.config.type} policy from {cfg.checkpoint} on {policy.device}: reads '
            f'{", ".join(f"{n} <- {s.topic}" for n, s in binding.inputs.items())} ({source}); commands '
            f'{output.describe()} at {rate:g} Hz ({controller.execution_text}); activate to start')

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._controller.start_run()
        self._active = True
        self._timer = self.create_timer(1.0 / (TIMER_OVERSAMPLING * self._rate_hz), self._on_tick)
        self.state = 'active'
        self.get_logger().info('active: ' + ('commanding' if self._enabled else 'paused until ~/enable true'))
        self.diagnostics.publish_now()
        return SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_control()
        self.state = 'inactive'
        self.get_logger().info('deactivated: no further commands')
        self.diagnostics.publish_now()
        return SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.state = 'unconfigured'
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.state = 'finalized'
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.state = 'unconfigured'
        return SUCCESS

    def _stop_control(self) -> None:
        """No more ticks."""
        self._active = False
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def _release(self) -> None:
        """Stop ticking and drop everything configure made (safe in any state, any number of times)."""
        self._stop_control()
        controller, output = self._controller, self._output
        self._controller = self._output = None
        for subscription in self._subscriptions_made:
            self.destroy_subscription(subscription)
        self._subscriptions_made.clear()
        if output is not None:
            output.destroy()
        if controller is not None:
            controller.close()

    # -- callbacks --------------------------------------------------------------------------------
    def _on_message(self, controller: PolicyController, topic: str, msg) -> None:
        errors = controller.observations.push(topic, msg, self.get_clock().now().nanoseconds)
        for error in errors:
            self.get_logger().warning(f'refused a {topic} message ({error.reason}): {error}', throttle_duration_sec=1.0)

    def _on_tick(self) -> None:
        now = self.get_clock().now()
        if not (self._active and self._enabled):
            return
        tick = self._controller.tick(now.nanoseconds)
        if tick is None:
            return
        self.rate.tick(now.nanoseconds * 1e-9)
        self.wall_rate.tick(time.monotonic())
        if tick.command is not None:
            self._output.publish(tick.command, now.to_msg())
        if tick.hold not in (None, WAITING):   # waiting for the first chunk of a run is routine
            self.get_logger().warning(f'holding the last command: {tick.hold}', throttle_duration_sec=2.0)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        resume = request.data and not self._enabled
        self._enabled = request.data
        if resume and self._controller is not None:
            self._controller.start_run()
        response.success = True
        response.message = ('enabled' if request.data else 'disabled: no new commands') + \
            ('' if self._active else f' (node {self.state}: commands flow only while active)')
        self.get_logger().info(response.message)
        self.diagnostics.publish_now()
        return response

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose_control(self) -> TaskResult:
        controller = self._controller
        values: dict[str, object] = {'lifecycle_state': self.state, 'enabled': self._enabled}
        if controller is None:
            level = DiagnosticStatus.ERROR if self._failure else DiagnosticStatus.OK
            return level, f'{self.state}: {self._failure or "not configured"}', values
        holds = controller.holds.snapshot()
        values.update({'control_rate_hz': self.rate.rate(), 'control_rate_hz (wall)': self.wall_rate.rate(),
                       'commands': controller.commands, 'holds': sum(holds.values()),
                       **{f'holds.{k}': v for k, v in holds.items()},
                       **controller.limiter.figures(),
                       **controller.events.snapshot(),
                       **{f'refused.{k}': v for k, v in controller.observations.rejected.snapshot().items()}})
        running = self._active and self._enabled
        if running and controller.holding:
            return DiagnosticStatus.WARN, f'{self.state}: holding ({controller.holding})', values
        return DiagnosticStatus.OK, f'{self.state}: ' + ('commanding' if running else 'not commanding'), values

    def _diagnose_inference(self) -> TaskResult:
        controller = self._controller
        if controller is None:
            return DiagnosticStatus.OK, 'no policy loaded', {}
        values: dict[str, object] = dict(self._summary)
        latency = controller.latency_ms()
        if latency is not None:
            values['latency_p50_ms'], values['latency_p99_ms'] = latency
        if controller.last_error:
            values['last_error'] = controller.last_error
        level = DiagnosticStatus.WARN if controller.events.snapshot().get('inference_errors') else DiagnosticStatus.OK
        return level, f'{self._summary["policy_type"]} on {self._summary["device"]}', values


def main(args: list[str] | None = None) -> int:
    return run_node('policy_node', PolicyNode, args, threads=1)   # one thread: see the module docstring


if __name__ == '__main__':
    sys.exit(main())
