"""Thin entry point for every `script:` rule: the logic lives in deepfake_rl.workflow."""
from deepfake_rl.workflow import run_stage

run_stage(snakemake)  # noqa: F821  (injected by Snakemake)
