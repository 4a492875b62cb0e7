"""Builds the MuJoCo model of the pick_place cell from the robot URDF with MuJoCo's model-editing API.

The arm (bodies, joints, limits, inertias, collision geometry) comes only from the URDF, so the
sim and pinocchio can never disagree about kinematics. This module adds what a URDF does not
carry: servo-like position actuators, the table, the cube, the bin, lights and the two cameras
(placed on the URDF's optical frames).
"""
from __future__ import annotations

import mujoco
import numpy as np

from dojo_core.robot.description import JOINT_NAMES, joint_limits
from dojo_core.sim.config import SimConfig

# Servo model (STS3215 class): stiff position loop, torque-limited, with reflected rotor inertia.
ARM_KP = 60.0           # N m / rad
ARM_KV = 1.2            # N m s / rad
ARM_ARMATURE = 0.004    # kg m^2, reflected rotor inertia through the gearbox
GRIPPER_KP = 4.0
GRIPPER_KV = 0.08
GRIPPER_EFFORT = 1.0    # N m: enough to hold the cube, small enough not to crush contacts

TABLE_HALF_SIZE = (0.35, 0.35, 0.01)
TABLE_CENTRE = (0.15, 0.0)
CUBE_BODY = 'cube'
BIN_BODY = 'bin'
BIN_THICKNESS = 0.004   # floor and wall thickness (m)
# MuJoCo cameras look along their -z with +y up; a ROS optical frame looks along +z with +y down:
# the camera sits on the optical frame rotated by pi about x.
OPTICAL_TO_MUJOCO_CAMERA = (0.0, 1.0, 0.0, 0.0)
FRICTION = (1.0, 0.01, 0.001)  # sliding, torsional, rolling


def camera_body(name: str) -> str:
    return f'{name}_camera_optical_frame'


def build_spec(urdf: str, config: SimConfig) -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_string(urdf)
    spec.modelname = 'dojo_pick_place'
    spec.compiler.fusestatic = False    # keep the URDF's fixed frames: the cameras sit on them
    spec.compiler.discardvisual = False
    spec.option.timestep = 1.0 / config.physics_rate_hz
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0         # stiffer friction: grasps do not creep
    spec.visual.global_.offwidth = max(c.width for c in config.cameras.values())
    spec.visual.global_.offheight = max(c.height for c in config.cameras.values())
    # Offscreen rendering on CPU (EGL/llvmpipe) is the cell's bottleneck: the default 4096 shadow map
    # and 4x multisampling cost ~35 ms a frame; 1024 and none cost ~5-8 ms with soft shadows kept.
    spec.visual.quality.shadowsize = 1024
    spec.visual.quality.offsamples = 0

    _add_actuators(spec, urdf)
    for geom in spec.geoms:
        geom.friction = FRICTION
        geom.condim = 4
    _add_environment(spec)
    _add_cube(spec, config)
    _add_bin(spec, config)
    for name, cam in config.cameras.items():
        spec.body(camera_body(name)).add_camera(
            name=name, quat=OPTICAL_TO_MUJOCO_CAMERA, fovy=cam.fovy_deg, resolution=[cam.width, cam.height])
    return spec


def _add_actuators(spec: mujoco.MjSpec, urdf: str) -> None:
    limits = joint_limits(urdf)
    for i, name in enumerate(JOINT_NAMES):
        gripper = name == 'gripper'
        joint = spec.joint(name)
        joint.armature = ARM_ARMATURE / 4 if gripper else ARM_ARMATURE
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=GRIPPER_KP if gripper else ARM_KP, kv=GRIPPER_KV if gripper else ARM_KV)
        act.ctrlrange = [limits.lower[i], limits.upper[i]]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        effort = GRIPPER_EFFORT if gripper else limits.effort[i]
        act.forcerange = [-effort, effort]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _add_environment(spec: mujoco.MjSpec) -> None:
    world = spec.worldbody
    world.add_light(name='key', pos=[0.3, -0.3, 1.2], dir=[-0.2, 0.25, -1.0], diffuse=[0.7, 0.7, 0.7],
                    castshadow=True)
    world.add_light(name='fill', pos=[-0.4, 0.4, 1.0], dir=[0.4, -0.4, -1.0], diffuse=[0.3, 0.3, 0.3],
                    castshadow=False)
    world.add_geom(name='table', type=mujoco.mjtGeom.mjGEOM_BOX, size=list(TABLE_HALF_SIZE),
                   pos=[TABLE_CENTRE[0], TABLE_CENTRE[1], -TABLE_HALF_SIZE[2]],
                   rgba=[0.55, 0.42, 0.3, 1.0], friction=list(FRICTION), condim=4)
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2.0, 2.0, 0.1], pos=[0, 0, -0.75],
                   rgba=[0.3, 0.32, 0.35, 1.0], contype=0, conaffinity=0)


def _add_cube(spec: mujoco.MjSpec, config: SimConfig) -> None:
    half = config.cube_size / 2
    cube = spec.worldbody.add_body(name=CUBE_BODY, pos=[0.2, 0.0, half])
    cube.add_freejoint(name='cube_free')
    cube.add_geom(name='cube', type=mujoco.mjtGeom.mjGEOM_BOX, size=[half] * 3, mass=config.cube_mass,
                  rgba=[0.85, 0.1, 0.1, 1.0], friction=list(FRICTION), condim=4)


def _add_bin(spec: mujoco.MjSpec, config: SimConfig) -> None:
    """An open square box standing on the table: a floor plate and four walls."""
    thickness = BIN_THICKNESS
    inner, height = config.bin_inner_size / 2, config.bin_wall_height
    body = spec.worldbody.add_body(name=BIN_BODY, pos=[*config.bin_position, 0.0])
    rgba = [0.15, 0.35, 0.75, 1.0]
    outer = inner + thickness

    def plate(name: str, half_size, pos) -> None:
        body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=list(half_size), pos=list(pos), rgba=rgba,
                      friction=list(FRICTION), condim=4)

    plate('bin_floor', (outer, outer, thickness / 2), (0, 0, thickness / 2))
    for sign, axis in ((1, 'x'), (-1, 'x'), (1, 'y'), (-1, 'y')):
        offset = sign * (inner + thickness / 2)
        if axis == 'x':
            plate(f'bin_wall_{axis}{sign:+d}', (thickness / 2, outer, height / 2), (offset, 0, height / 2))
        else:
            plate(f'bin_wall_{axis}{sign:+d}', (inner, thickness / 2, height / 2), (0, offset, height / 2))


def robot_geom_ids(model: mujoco.MjModel) -> np.ndarray:
    """Ids of every geom on the arm (everything below base_link), for 'is the cube held?' checks."""
    base = model.body('base_link').id
    ids = []
    for g in range(model.ngeom):
        body = model.geom_bodyid[g]
        while body not in (0, base):
            body = model.body_parentid[body]
        if body == base:
            ids.append(g)
    return np.array(ids, dtype=int)
