"""`maskgate bench`: its flags, and the bench `--scenario` picks: the frame set's (edge.bench.loop) or a door
day's (edge.bench.door_day_bench, which reuses the frame-set bench's machine description and flags). Standard
library imports only; the heavy ones happen inside the bench that runs."""

from __future__ import annotations

import argparse

from edge.bench import loop
from edge.errors import third_party_imports

add_arguments = loop.add_arguments


def run_command(args: argparse.Namespace) -> int:
    """The `maskgate bench` handler."""
    if args.scenario == "door-day":
        from edge.bench import door_day_bench

        with third_party_imports("maskgate bench"):
            return door_day_bench.run_command(args)
    return loop.run_command(args)
