"""Entry point of the import rules (import_domain, import_checkpoint): their adapters live in
deepfake_rl.import_stages and run through deepfake_rl.workflow.run_stage. A failure's traceback is
also appended to the job's log file (an import fails on the user's files: the log must say why, also
on a cluster where the console is not at hand)."""
import traceback

from deepfake_rl import workflow
from deepfake_rl.import_stages import STAGES

workflow.STAGES.update(STAGES)
try:
    workflow.run_stage(snakemake)  # noqa: F821  (injected by Snakemake)
except Exception:
    if snakemake.log:  # noqa: F821
        with open(snakemake.log[0], "a", encoding="utf-8") as handle:  # noqa: F821
            traceback.print_exc(file=handle)
    raise
