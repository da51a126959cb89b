"""Command-line helpers: `python -m deepfake_rl <command>` (the workflow itself runs through Snakemake)."""

from __future__ import annotations

import argparse
import sys

from deepfake_rl.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepfake_rl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-config", help="validate a config file and list every problem, including "
                                 "corpus roots and checkpoint files that are missing or incomplete")
    check.add_argument("config", nargs="+", help="config files, merged left to right like --configfile")
    summary = commands.add_parser("corpus-summary", help="per-domain counts, durations and content hashes of a "
                                   "built corpus, and the corpus hash")
    summary.add_argument("corpus_root", nargs="?", default="data/corpus")
    summary.add_argument("--expect", metavar="SHA256", help="exit with status 1 unless the corpus hash is this one")
    roles = commands.add_parser("corpus-roles", help="the embedded corpus's role table (markdown): domain x attack "
                                 "families x channel types x source speakers")
    roles.add_argument("config", nargs="*", default=["config/config.yaml"], help="config files, merged left to right")
    page = commands.add_parser("results-page", help="write docs/results.md (markdown tables) from results/")
    page.add_argument("--results", default="results", help="the results tree (default: results)")
    page.add_argument("--out", default="docs/results.md", help="the page to write (default: docs/results.md)")
    page.add_argument("--readme", help="also paste the page's main part into this README between its markers")
    page.add_argument("--in-domain-set", help="column of the in-domain findings (default: avg:in_domain where tested, "
                      "else the first in-domain set)")
    compare = commands.add_parser("compare-runs", help="two results trees: environment, per-run EER and paired-test "
                                   "verdicts that differ (exit 1 if a verdict differs)")
    compare.add_argument("first", help="a results/ folder")
    compare.add_argument("second", help="another results/ folder")
    compare.add_argument("--alpha", type=float, help="significance level of the verdicts (default: findings.ALPHA)")
    config_docs = commands.add_parser("config-docs", help="write docs/configuration.md from the schema")
    config_docs.add_argument("--config", default="config/config.yaml", help="where the defaults come from")
    config_docs.add_argument("--out", default="docs/configuration.md")
    config_docs.add_argument("--check", action="store_true", help="only compare: exit 1 if --out is out of date")
    args = parser.parse_args(argv)
    if args.command in ("results-page", "config-docs"):
        return _docs_command(args)
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "compare-runs":
        from deepfake_rl.compare_runs import compare_runs
        from deepfake_rl.findings import ALPHA

        report, changed = compare_runs(args.first, args.second, ALPHA if args.alpha is None else args.alpha)
        print(report)
        return 1 if changed else 0
    if args.command == "corpus-roles":
        from deepfake_rl.data.embedded.roles import role_table

        print(role_table(load_config(*args.config)["corpus"]["domains"]).to_markdown(index=False))
        return 0
    from deepfake_rl.data.summary import corpus_hash, corpus_summary

    table = corpus_summary(args.corpus_root)
    print(table.to_string(index=False))
    combined = corpus_hash(table)
    print(f"corpus sha256: {combined or '- (a domain recorded no content hash)'}")
    if args.expect and combined != args.expect:
        print(f"corpus hash differs from the expected {args.expect}: this machine built other audio "
              f"(the versions are in {args.corpus_root}/<domain>/content_hash.json)", file=sys.stderr)
        return 1
    return 0


def _check_config(paths: list[str]) -> int:
    """The config's schema and cross-references, then its inputs: corpus roots and checkpoint files."""
    from deepfake_rl.input_check import input_errors

    source = " + ".join(paths)
    try:
        config = load_config(*paths)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    problems = input_errors(config)
    if problems:
        print(f"{source}: the configuration is valid but its inputs are not ready:\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    print("config is valid" + (" and every corpus root and checkpoint file is in place"
                               if config["corpus"]["kind"] == "real" or config.get("checkpoints") else ""))
    return 0


def _docs_command(args: argparse.Namespace) -> int:
    """results-page and config-docs: generated documentation pages."""
    if args.command == "results-page":
        from deepfake_rl.results_page import ResultsPageError, write_results_page

        try:
            write_results_page(args.results, args.out, readme=args.readme, in_domain_set=args.in_domain_set)
        except ResultsPageError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"wrote {args.out}" + (f" and the results block of {args.readme}" if args.readme else ""))
        return 0
    from deepfake_rl.config_docs import check_config_docs, write_config_docs

    if args.check:
        problem = check_config_docs(args.out, args.config)
        print(problem or f"{args.out} is up to date", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    write_config_docs(args.out, args.config)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
