"""Where a pick-and-place episode stopped: approach, grasp, lift or place, from what the cell measured.

A success rate says how often an agent fails, not where; a policy that never reaches the cube
needs other data (or another model) than one that drops it on the way to the bin. Every control
step, `TraceRecorder` (an `on_step` hook of `rollout` and of the expert's `run_episode`) keeps the
cube position, the tool frame's position, the gripper joint and whether the arm touches the cube;
`classify` then names the furthest stage the episode completed and where it stopped:

    approach   the tool frame never came within grasp distance of the cube
    grasp      it did, but the cube was never lifted off the table while touched
    lift       the cube was lifted, but never carried over the bin
    place      it was carried over the bin, but never counted as placed (dropped outside, still held, ...)
    success    the cell's `success()` held

plus a detail (e.g. 'pushed': the cube slid more than an edge while never lifted). The thresholds
(`TaskGeometry`) come from the cell's and the expert's configs, so they follow the cube size and
the bin wherever they are configured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from dojo_core.expert.pick_place import GRIPPER, ExpertConfig
from dojo_core.kinematics.model import TOOL_FRAME
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sim.scene import BIN_THICKNESS


class Phase(str, Enum):
    """The stage an episode stopped in (SUCCESS: it did not stop)."""

    APPROACH = 'approach'
    GRASP = 'grasp'
    LIFT = 'lift'
    PLACE = 'place'
    SUCCESS = 'success'


#: The failure classes, in task order.
FAILURES = (Phase.APPROACH, Phase.GRASP, Phase.LIFT, Phase.PLACE)

# details
PUSHED = 'pushed'
TOUCHED = 'touched, not lifted'
NOT_TOUCHED = 'not touched'
DROPPED = 'dropped'
STILL_HELD = 'still held'
IN_BIN = 'in the bin, not placed'
DROPPED_OUTSIDE = 'dropped outside the bin'


@dataclass(frozen=True)
class TaskGeometry:
    """The thresholds `classify` applies (m, base frame; the table top is z = 0)."""

    grasp_distance: float   # tool frame to cube centre: the gripper is at the cube
    lift_height: float      # cube centre height: lifted off the table
    push_distance: float    # horizontal travel of a cube never lifted: pushed
    bin_centre: tuple[float, float]
    bin_half: float         # half the bin's inner edge: over its opening
    bin_top: float          # height of the bin's rim

    @classmethod
    def of(cls, sim: SimConfig, expert: ExpertConfig | None = None) -> TaskGeometry:
        """At the cube means within the expert's grasp offset (height and jaw clearance) plus half an edge
        (its grasp point jitter and a policy's looser aim); lifted means the cube's underside half an edge
        above the table (a cube tipped onto an edge stays below); pushed means moved by more than an edge."""
        expert = expert or ExpertConfig()
        edge = sim.cube_size
        return cls(grasp_distance=math.hypot(expert.grasp_height, expert.jaw_clearance) + edge / 2,
                   lift_height=edge, push_distance=edge,
                   bin_centre=(float(sim.bin_position[0]), float(sim.bin_position[1])),
                   bin_half=sim.bin_inner_size / 2, bin_top=BIN_THICKNESS + sim.bin_wall_height)

    def bin_offset(self, xy: np.ndarray) -> np.ndarray:
        """Per row of (..., 2) positions: the larger of the x and y offsets from the bin centre (m)."""
        return np.abs(xy - np.asarray(self.bin_centre)).max(axis=-1)

    def over_bin(self, xy: np.ndarray) -> np.ndarray:
        """Per row of (..., 2) positions: inside the bin's opening, seen from above."""
        return self.bin_offset(xy) <= self.bin_half


@dataclass(frozen=True)
class EpisodeTrace:
    """What the cell measured at every control step of one episode (and once after the last)."""

    seed: int
    success: bool
    geometry: TaskGeometry
    time: np.ndarray     # (n,) sim seconds since the reset
    cube: np.ndarray     # (n, 3) cube centre (m)
    tool: np.ndarray     # (n, 3) tool frame, where a held cube's centre sits (m)
    gripper: np.ndarray  # (n,) gripper joint (rad; larger is more open)
    touched: np.ndarray  # (n,) bool: an arm geom touches the cube

    @property
    def distance(self) -> np.ndarray:
        """(n,) tool frame to cube centre (m)."""
        return np.linalg.norm(self.tool - self.cube, axis=1)

    @property
    def bin_offset(self) -> np.ndarray:
        """(n,) the cube's offset from the bin centre along x or y, whichever is larger (m)."""
        return self.geometry.bin_offset(self.cube[:, :2])


class TraceRecorder:
    """Collects one episode's trace: pass it as `on_step` (it ignores the command), then call `finish`."""

    def __init__(self, geometry: TaskGeometry) -> None:
        self.geometry = geometry
        self._samples: list[tuple[float, np.ndarray, np.ndarray, float, bool]] = []

    def __call__(self, cell: SimCell, command: np.ndarray | None = None) -> None:
        cube, _ = cell.object_pose()
        tool, _ = cell.body_pose(TOOL_FRAME)
        gripper = float(cell.observation(render=False).joint_positions[GRIPPER])
        self._samples.append((cell.time, cube, tool, gripper, cell.cube_held()))

    def finish(self, cell: SimCell, seed: int, success: bool) -> EpisodeTrace:
        """The trace, with the cell's state after the last step as its final sample."""
        self(cell)
        time, cube, tool, gripper, touched = zip(*self._samples)
        return EpisodeTrace(int(seed), bool(success), self.geometry, np.array(time), np.array(cube), np.array(tool),
                            np.array(gripper), np.array(touched, dtype=bool))


@dataclass(frozen=True)
class Diagnosis:
    """Where an episode stopped, and a detail of how ('' when there is none to tell)."""

    phase: Phase
    detail: str = ''

    def __str__(self) -> str:
        return f'{self.phase.value} ({self.detail})' if self.detail else self.phase.value


def classify(trace: EpisodeTrace) -> Diagnosis:
    """The furthest stage `trace` completed decides the phase it stopped in (see the module docstring)."""
    if trace.success:
        return Diagnosis(Phase.SUCCESS)
    g = trace.geometry
    high = trace.cube[:, 2] > g.lift_height
    touched_at_end = bool(trace.touched[-1])
    if np.any(high & g.over_bin(trace.cube[:, :2])):
        final = trace.cube[-1]
        if touched_at_end:
            return Diagnosis(Phase.PLACE, STILL_HELD)
        in_bin = bool(g.over_bin(final[:2])) and final[2] < g.bin_top
        return Diagnosis(Phase.PLACE, IN_BIN if in_bin else DROPPED_OUTSIDE)
    if np.any(high & trace.touched):
        return Diagnosis(Phase.LIFT, STILL_HELD if touched_at_end else DROPPED)
    pushed = np.linalg.norm(trace.cube[:, :2] - trace.cube[0, :2], axis=1).max() > g.push_distance
    if np.any(trace.distance <= g.grasp_distance):
        return Diagnosis(Phase.GRASP, PUSHED if pushed else TOUCHED if trace.touched.any() else NOT_TOUCHED)
    return Diagnosis(Phase.APPROACH, PUSHED if pushed else '')
