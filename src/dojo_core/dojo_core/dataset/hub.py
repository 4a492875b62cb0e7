"""Publish a dataset on the Hugging Face Hub the way LeRobot expects to find it.

LeRobot downloads datasets at the git tag of their codebase version ("v3.0"), so after
uploading the folder the tag is (re)created on the uploaded revision. The dataset is validated
first: uploading a dataset that LeRobot cannot load helps nobody.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import RevisionNotFoundError

from dojo_core.dataset.format import CODEBASE_VERSION, STAGING_DIR
from dojo_core.dataset.storage import read_info
from dojo_core.dataset.validate import validate

CARD = """---
license: {license}
task_categories:
- robotics
tags:
- LeRobot
- dojo
configs:
- config_name: default
  data_files: data/*/*.parquet
---

# {repo_id}

Recorded with dojo (ROS 2) in the LeRobot dataset format {version}: {episodes} episodes,
{frames} frames at {fps} fps, robot `{robot_type}`, joint units: {units}.
"""


class InvalidDatasetError(ValueError):
    """The dataset fails validation, so it is not uploaded."""


def dataset_card(root: Path, repo_id: str, license: str = 'apache-2.0') -> str:
    info = read_info(root)
    return CARD.format(license=license, repo_id=repo_id, version=info['codebase_version'],
                       episodes=info['total_episodes'], frames=info['total_frames'], fps=info['fps'],
                       robot_type=info.get('robot_type'), units=info.get('dojo', {}).get('units', 'unknown'))


def push_to_hub(root: str | Path, repo_id: str, *, private: bool = False, branch: str | None = None,
                license: str = 'apache-2.0', api: HfApi | None = None, check: bool = True) -> str:
    """Upload `root` to the dataset repo `repo_id` and tag it "v3.0"; returns the commit URL.

    `api` is an HfApi (token, endpoint); `check=False` skips validation (not recommended).
    The writer's staging directory is never uploaded; a README.md dataset card is written when
    the folder has none.
    """
    root = Path(root)
    if check:
        problems = validate(root)
        if problems:
            raise InvalidDatasetError(f'{root} is not a valid dataset, not uploading:\n' + '\n'.join(problems))
    api = api or HfApi()
    api.create_repo(repo_id=repo_id, repo_type='dataset', private=private, exist_ok=True)
    if branch:
        api.create_branch(repo_id=repo_id, branch=branch, repo_type='dataset', exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(root), repo_type='dataset', revision=branch,
                               ignore_patterns=[f'{STAGING_DIR}/*', f'{STAGING_DIR}/**', 'images/*'],
                               commit_message=f'Upload dataset ({CODEBASE_VERSION}) with dojo')
    if not (root / 'README.md').exists():
        api.upload_file(path_or_fileobj=dataset_card(root, repo_id, license).encode(), path_in_repo='README.md',
                        repo_id=repo_id, repo_type='dataset', revision=branch, commit_message='Add dataset card')
    with contextlib.suppress(RevisionNotFoundError):
        api.delete_tag(repo_id, tag=CODEBASE_VERSION, repo_type='dataset')
    api.create_tag(repo_id, tag=CODEBASE_VERSION, revision=branch, repo_type='dataset')
    return str(getattr(commit, 'commit_url', commit))
