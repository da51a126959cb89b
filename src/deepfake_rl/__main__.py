"""Command-line helpers: `python -m deepfake_rl <command>` (the workflow itself runs through Snakemake)."""

from __future__ import annotations

import argparse
import sys

from deepfake_rl.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepfake_rl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-config", help="validate a config file and list every problem")
    check.add_argument("config", nargs="+", help="config files, merged left to right like --configfile")
    summary = commands.add_parser("corpus-summary", help="per-domain counts and durations of a built corpus")
    summary.add_argument("corpus_root", nargs="?", default="data/corpus")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        try:
            load_config(*args.config)
        except ConfigError as error:
            print(error, file=sys.stderr)
            return 1
        print("config is valid")
        return 0
    from deepfake_rl.data.summary import corpus_summary

    print(corpus_summary(args.corpus_root).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
