# deepfake-rl: does RL fine-tuning generalise better than SFT for SSL speech deepfake detectors?
# Default target: results/table1.csv. See README.md for the commands that work.

from snakemake.utils import min_version, validate

from deepfake_rl.config import SCHEMA_PATH, validate_config

min_version("9.0")


if not workflow.overwrite_configfiles:  # --configfile given: those files are the whole config
    configfile: "config/config.yaml"


validate_config(config, source="config")  # readable errors naming the key and the allowed values
validate(config, str(SCHEMA_PATH))  # Snakemake's own check (also fills schema defaults)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"


report: "report/workflow.rst"


rule all:
    """The default target: the paper's Table 1 on the configured corpus, the metrics, uncertainty and
    drift analyses and their figures."""
    default_target: True
    input:
        "results/table1.csv",
        analysis_outputs(),
        "results/environment.json",  # the machine and software the tables came from
        rules.data.input,  # every configured store, also those no table reads (e.g. dfe24_valid)
