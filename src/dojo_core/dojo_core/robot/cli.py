"""`dojo urdf`: print the expanded robot description (what robot_state_publisher and the sim load)."""
from __future__ import annotations

import argparse
import sys

from dojo_core.robot.description import HARDWARE_TYPES, expand_xacro


class UrdfVerb:
    help = 'Print the SO-101 URDF expanded from urdf/so101.urdf.xacro.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--hardware-type', choices=HARDWARE_TYPES, default='none',
                            help='ros2_control system in the description (default: none)')
        parser.add_argument('--xacro', default=None, help='xacro file (default: the installed so101.urdf.xacro)')
        parser.add_argument('--arg', action='append', default=[], metavar='NAME:=VALUE',
                            help='extra xacro argument, e.g. --arg prefix:=left_')
        parser.add_argument('-o', '--output', default='-', help='output file (default: stdout)')

    def main(self, args: argparse.Namespace) -> int:
        extra = {}
        for item in args.arg:
            name, sep, value = item.partition(':=')
            if not sep:
                raise SystemExit(f'dojo urdf: --arg expects NAME:=VALUE, got {item!r}')
            extra[name] = value
        text = expand_xacro(args.xacro, hardware_type=args.hardware_type, **extra)
        if args.output == '-':
            sys.stdout.write(text)
        else:
            with open(args.output, 'w', encoding='utf-8') as f:
                f.write(text)
        return 0
