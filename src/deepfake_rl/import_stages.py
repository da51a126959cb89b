"""Job adapters of the import rules (real corpora, released checkpoints), in the style of
deepfake_rl.workflow: each reads its job's inputs, params and outputs from Snakemake's `script:`
object. rules/scripts/run_import.py registers them beside workflow.STAGES and runs them through
workflow.run_stage (same thread limits and log handling)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _import_domain(job: Any) -> None:
    from deepfake_rl.data.real_corpus import import_domain

    params = job.params
    import_domain(params.loader, job.input.root, Path(job.output.corpus), options=dict(params.options),
                  on_bad_file=params.on_bad_file, verify=params.verify, threads=job.threads)


def _import_checkpoint(job: Any) -> None:
    from deepfake_rl.models.import_checkpoint import import_posttrained, import_pretrained

    stage = import_posttrained if job.wildcards.init == "posttrained" else import_pretrained
    stage(job.input.source, job.wildcards.model, job.params.model, job.output.checkpoint,
          drop_adapters=job.params.drop_adapters, record_path=job.output.record)


STAGES = {"import_domain": _import_domain, "import_checkpoint": _import_checkpoint}
