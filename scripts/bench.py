"""Throughput benchmarks (never timed tests): prints figures with the device and config.

    python scripts/bench.py replay|dreamer|modelfree|planner|all [--device cpu|cuda] [...]

Each subcommand lives in scripts/benchmarks/<name>.py and exposes `add_args(parser)` and
`run(args) -> None`; record what you measure in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, when not installed
NAMES = ("replay", "dreamer", "modelfree", "planner")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="bench", required=True)
    modules = {}
    for name in NAMES:
        try:
            modules[name] = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"benchmarks.{name}":
                raise
            continue
        p = sub.add_parser(name)
        p.add_argument("--device", default="auto", help="cpu | cuda | auto")
        modules[name].add_args(p)
    p_all = sub.add_parser("all")
    p_all.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.bench == "all":
        for name, module in modules.items():
            sub_args = sub.choices[name].parse_args(["--device", args.device])
            module.run(sub_args)
    else:
        modules[args.bench].run(args)


if __name__ == "__main__":
    main()
