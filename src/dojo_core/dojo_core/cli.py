"""`dojo <verb>`: one command line whose verbs the installed packages register, like the `ros2` CLI.

A package adds a verb with an entry point in the `dojo.verbs` group pointing at a class with
`help` (one line), `add_arguments(parser)` and `main(args) -> int`. ROS-free verbs live in
dojo_core; verbs that start nodes live in their ROS packages, so `dojo` works (with fewer verbs)
on a training box that has no ROS installed.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points
from typing import Protocol, Sequence

VERB_GROUP = 'dojo.verbs'


class Verb(Protocol):
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, args: argparse.Namespace) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='dojo', description='dojo: teach robots from data inside ROS 2.')
    verbs = parser.add_subparsers(title='verbs', dest='verb', metavar='<verb>')
    for ep in sorted(entry_points(group=VERB_GROUP), key=lambda e: e.name):
        try:
            verb: Verb = ep.load()()
        except ImportError as exc:  # e.g. a ROS verb on a machine without rclpy
            verbs.add_parser(ep.name, help=f'(unavailable: {exc})').set_defaults(unavailable=str(exc))
            continue
        sub = verbs.add_parser(ep.name, help=verb.help, description=verb.help)
        verb.add_arguments(sub)
        sub.set_defaults(run=verb.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a verb; a reader that closes the pipe early (`dojo dataset info X | head -3`) ends it quietly.

    Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError, in the verb or when
    stdout's buffer is flushed. The buffer is flushed here (also before the SystemExit of --help and
    usage errors), not at interpreter exit where the error could only be printed. As the Python docs
    recommend (signal module, "Note on SIGPIPE"), stdout is then pointed at devnull so that the flush
    at exit cannot raise again, and the exit status is 1.
    """
    try:
        try:
            status = _run_verb(argv)
        except SystemExit:
            sys.stdout.flush()
            raise
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


def _run_verb(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, 'unavailable', None):
        parser.exit(2, f'dojo {args.verb}: unavailable here: {args.unavailable}\n')
    if not hasattr(args, 'run'):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
