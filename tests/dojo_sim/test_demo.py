"""`dojo demo` end to end: sim_node and the scripted client in separate processes, PNGs written."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image


def test_demo_drives_the_cell_and_saves_one_png_per_camera(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'dojo_core.cli', 'demo', '--out', str(tmp_path), '--real-time-factor', '0'],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith(('_hz_sim', '_hz_wall', '_rad')):
            figures[parts[0]] = float(parts[1])
    assert 25.0 < figures['control_rate_hz_sim'] <= 30.5, figures
    assert figures['max_final_error_rad'] < 0.02, figures
    assert figures['front_camera_hz_sim'] > 5 and figures['wrist_camera_hz_sim'] > 5, figures
    sizes = {'front': (640, 480), 'wrist': (320, 240)}
    for name, size in sizes.items():
        image = Image.open(tmp_path / f'{name}.png')
        assert image.size == size and image.mode == 'RGB'
        assert np.asarray(image).std() > 10  # a rendered scene, not a blank frame
