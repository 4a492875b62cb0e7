"""config/moveit agrees with the URDF the other backends and the sim load (moveit_py itself is apt-only)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import yaml

from dojo_core.kinematics.model import TOOL_FRAME, RobotModel
from dojo_core.robot.description import ARM_JOINTS
from dojo_core.sim import SimConfig
from dojo_ik.moveit_ik import MoveItConfig, moveit_parameters

MOVEIT = Path(__file__).resolve().parents[2] / 'config' / 'moveit'


def test_srdf_names_the_urdf_links_and_the_arm_chain():
    model = RobotModel()
    srdf = ET.parse(MOVEIT / 'so101.srdf').getroot()
    urdf = ET.fromstring(model.urdf)
    links = {link.get('name') for link in urdf.iter('link')}
    for pair in srdf.iter('disable_collisions'):
        assert {pair.get('link1'), pair.get('link2')} <= links
    groups = {group.get('name'): group for group in srdf.iter('group')}
    chain = groups[MoveItConfig().group].find('chain')
    assert (chain.get('base_link'), chain.get('tip_link')) == ('base_link', TOOL_FRAME)
    # The chain's movable joints are the IK joints: the parents of the tool frame up to the root.
    joints = []
    frame = model.model.frames[model.frame_id(TOOL_FRAME)]
    joint = frame.parentJoint
    while joint > 0:
        joints.insert(0, model.model.names[joint])
        joint = model.model.parents[joint]
    assert tuple(joints) == ARM_JOINTS
    home = {j.get('name'): float(j.get('value')) for state in srdf.iter('group_state')
            if state.get('name') == 'home' for j in state.iter('joint')}
    np.testing.assert_allclose([home[j] for j in ARM_JOINTS], SimConfig().home_positions[:5])


def test_moveit_parameters_assemble_description_semantic_and_kinematics():
    model = RobotModel()
    params = moveit_parameters(model, MOVEIT)
    assert params['robot_description'] == model.urdf
    assert '<chain base_link="base_link" tip_link="gripper_frame"/>' in params['robot_description_semantic']
    assert params['robot_description_kinematics'][MoveItConfig().group]['position_only_ik'] is True
    assert params['planning_pipelines'] == yaml.safe_load((MOVEIT / 'moveit_py.yaml').read_text())['planning_pipelines']
