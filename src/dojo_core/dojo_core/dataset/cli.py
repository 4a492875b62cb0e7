"""`dojo dataset {info,validate,repair,push} PATH`: look at, check, fix and publish datasets."""
from __future__ import annotations

import argparse
import sys

from dojo_core.dataset.format import DOJO_INFO_KEY, video_keys
from dojo_core.dataset.hub import InvalidDatasetError, push_to_hub
from dojo_core.dataset.repair import repair
from dojo_core.dataset.storage import DatasetError, DatasetLockedError
from dojo_core.dataset.validate import summarize, validate


def _size(n: int) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
        n /= 1024
    return f'{n} B'


def _info(args: argparse.Namespace) -> int:
    facts = summarize(args.path)
    info = facts['info']
    fps = info['fps']
    frames = info['total_frames']
    print(f'{args.path}: LeRobot {info["codebase_version"]}, robot {info.get("robot_type")}')
    print(f'  episodes {info["total_episodes"]}, frames {frames} ({frames / fps:.1f} s at {fps} fps), '
          f'tasks {info["total_tasks"]}, units {info.get(DOJO_INFO_KEY, {}).get("units", "unknown")}')
    print('  features:')
    for key, ft in info['features'].items():
        extra = ''
        if ft['dtype'] == 'video':
            video = ft.get('info') or {}
            crf = f' crf {video["video.crf"]}' if video.get('video.crf') is not None else ''
            extra = f'  {video.get("video.codec")} {video.get("video.pix_fmt")}{crf}'
        names = ft.get('names')
        shown = f'  {names}' if ft['dtype'] != 'video' and names else ''
        print(f'    {key}: {ft["dtype"]} {ft["shape"]}{shown}{extra}')
    count, size = facts['files']['data']
    print(f'  files: data {count} ({_size(size)}), meta/episodes {facts["meta_files"]}')
    for key in video_keys(info['features']):
        count, size = facts['files'][key]
        print(f'         {key} {count} ({_size(size)})')
    return 0


def _validate(args: argparse.Namespace) -> int:
    problems = validate(args.path, decode_video=not args.fast)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f'{args.path}: {len(problems)} problem(s)', file=sys.stderr)
        return 1
    print(f'{args.path}: valid LeRobot v3.0 dataset')
    return 0


def _repair(args: argparse.Namespace) -> int:
    print(repair(args.path))
    return 0


def _push(args: argparse.Namespace) -> int:
    print(push_to_hub(args.path, args.repo_id, private=args.private, branch=args.branch))
    return 0


class DatasetVerb:
    help = 'Inspect, validate, repair or publish a LeRobot v3.0 dataset.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(title='commands', dest='dataset_command', metavar='<command>', required=True)

        def command(name: str, help: str, run) -> argparse.ArgumentParser:
            cmd = sub.add_parser(name, help=help, description=help)
            cmd.add_argument('path', help='dataset root (the folder holding meta/info.json)')
            cmd.set_defaults(dataset_run=run)
            return cmd

        command('info', 'print a summary of the dataset', _info)
        check = command('validate', 'check every format invariant; exit 1 listing the problems', _validate)
        check.add_argument('--fast', action='store_true',
                           help='count video frames from the container instead of decoding every frame')
        command('repair', 'remove what an interrupted recording left (the unsaved episode)', _repair)
        push = command('push', 'validate, upload to the Hugging Face Hub and tag v3.0', _push)
        push.add_argument('repo_id', help='dataset repository, e.g. me/pick_cube')
        push.add_argument('--private', action='store_true', help='create the repository as private')
        push.add_argument('--branch', default=None, help='upload to this branch (default: main)')

    def main(self, args: argparse.Namespace) -> int:
        try:
            return args.dataset_run(args)
        except (DatasetError, DatasetLockedError, InvalidDatasetError) as exc:
            print(f'dojo dataset {args.dataset_command}: {exc}', file=sys.stderr)
            return 1
