"""Recording process for the dataset crash tests (test_dataset_kill.py).

Runs as a server so that Python and the libraries are imported once: it reads one JSON scenario
per line on stdin, forks a recorder for it (the server itself never records, so it has no
threads when it forks), optionally SIGKILLs the recorder after a delay, and reports the
recorder's events and exit as JSON lines on stdout. The recorder opens (or creates) the dataset
and records deterministic episodes, and dies by SIGKILL where the scenario says:

- kill_after_frames: after that many add_frame calls;
- kill_at_replace: at the N-th os.replace after the dataset is open (every atomic publication
  in the writer is an os.replace, so this hits each step of the save protocol);
- kill_in_open: at the N-th os.replace while creating or opening (i.e. inside repair);
- kill_after_s: the server kills it after that many seconds, wherever it is;
- fsize_limit: RLIMIT_FSIZE in bytes, so writes past it fail with EFBIG like a full disk.

Episode e has length 6 + 3e mod 5, task TASKS[e mod 3], and values the test recomputes with
`state` and `image` (it imports this file).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

import numpy as np

FPS = 30
CAMERAS = {'observation.images.front': (48, 64), 'observation.images.wrist': (32, 48)}
TASKS = ('pick the cube', 'place it in the bin', 'go home')


def length(episode: int) -> int:
    return 6 + (3 * episode) % 5


def state(episode: int, frame: int) -> np.ndarray:
    return (episode * 100.0 + frame + np.arange(6) / 8.0).astype(np.float32)


def image(camera: str, episode: int, frame: int) -> np.ndarray:
    height, width = CAMERAS[camera]
    y, x = np.mgrid[0:height, 0:width] / 64.0
    phase = 0.13 * episode + 0.3 * list(CAMERAS).index(camera)
    r = 128 + 80 * np.sin(2 * np.pi * (0.6 * x + 0.02 * frame + phase))
    g = 128 + 80 * np.cos(2 * np.pi * (0.5 * y - 0.015 * frame + phase))
    b = 128 + 50 * np.sin(2 * np.pi * (0.4 * (x + y) + 0.01 * frame + 2 * phase))
    return np.stack([r, g, b], axis=-1).round().astype(np.uint8)


def features() -> dict:
    from dojo_core.dataset.format import vector_feature, video_feature

    names = [f'j{i}.pos' for i in range(6)]
    return {'observation.state': vector_feature(names), 'action': vector_feature(names),
            **{key: video_feature(*shape) for key, shape in CAMERAS.items()}}


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def kill_at_call(function, n: int):
    """Wrap `function` so that its n-th call SIGKILLs this process instead of running."""
    calls = 0

    def wrapped(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapped


def record(root: str, scenario: dict) -> None:
    from dojo_core.dataset import DatasetWriter

    if scenario.get('fsize_limit'):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (scenario['fsize_limit'], scenario['fsize_limit']))
    real_replace = os.replace
    if scenario.get('kill_in_open'):
        os.replace = kill_at_call(real_replace, scenario['kill_in_open'])
    if os.path.exists(os.path.join(root, 'meta', 'info.json')):
        writer = DatasetWriter.open(root)
        emit(event='opened', episodes=writer.num_episodes, repaired=writer.repair_report.actions)
    else:
        writer = DatasetWriter.create(root, 'dojo/kill_test', FPS, features(), robot_type='so101_follower')
        emit(event='created')
    if scenario.get('kill_at_replace'):
        os.replace = kill_at_call(real_replace, scenario['kill_at_replace'])
    frames = 0
    try:
        for _ in range(scenario.get('episodes', 1)):
            e = writer.num_episodes
            for f in range(length(e)):
                if frames == scenario.get('kill_after_frames'):
                    os.kill(os.getpid(), signal.SIGKILL)
                writer.add_frame({'observation.state': state(e, f), 'action': state(e, f + 1),
                                  **{key: image(key, e, f) for key in CAMERAS}}, task=TASKS[e % 3])
                frames += 1
            summary = writer.save_episode()
            emit(event='saved', episode=summary.episode_index, length=summary.length)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which decides
        emit(event='error', type=type(exc).__name__, message=str(exc), episodes=writer.num_episodes)
        writer.discard_episode()
    try:
        writer.close()
    except Exception as exc:  # noqa: BLE001
        emit(event='close_error', type=type(exc).__name__, message=str(exc))
    emit(event='closed')


def serve(root: str) -> None:
    for line in sys.stdin:
        scenario = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                record(root, scenario)
            except BaseException as exc:  # noqa: BLE001 - e.g. open refused the dataset
                emit(event='fatal', type=type(exc).__name__, message=str(exc))
            finally:
                sys.stdout.flush()
                os._exit(0)
        deadline = time.monotonic() + scenario.get('kill_after_s', float('inf'))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        emit(event='exit', signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
             code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None)


if __name__ == '__main__':
    import dojo_core.dataset  # noqa: F401 - import once here, before any fork

    serve(sys.argv[1])
