"""Load and validate the workflow configuration, with errors that name the key and the allowed values.

Snakemake's own validator reports jsonschema internals; researchers editing a YAML file need
"corpus.size: 'huge' is not one of ['tiny', 'default']" instead, plus the cross-references a schema
cannot express (a dataset naming an unknown domain, a test set naming an unknown dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the problem."""


def load_schema() -> dict[str, Any]:
    """The JSON schema (kept as YAML) that the Snakefile and the CLI both validate against."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _key_path(path: Any) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable line for a schema violation."""
    where = _key_path(error.absolute_path)
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {error.validator_value}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "additionalProperties" and error.validator_value is False:
        return f"{where}: {error.message} (check the spelling of the key)"
    return f"{where}: {error.message}"


def _cross_reference_errors(config: dict[str, Any]) -> list[str]:
    """Checks that need more than one key: references between sections, ranges, sums."""
    from deepfake_rl.data.attacks import ATTACKS
    from deepfake_rl.data.channels import CHANNEL_STEPS

    errors: list[str] = []
    domains = config["corpus"]["domains"]
    for name, domain in domains.items():
        key = f"corpus.domains.{name}"
        for index, source in enumerate(domain["sources"]):
            low, high = source["fraction"]
            if not low < high:
                errors.append(f"{key}.sources.{index}.fraction: {low} must be below {high}")
        for attack in domain["attacks"]:
            if attack not in ATTACKS:
                errors.append(f"{key}.attacks: unknown attack {attack!r}; known: {sorted(ATTACKS)}")
        for index, chain in enumerate(domain["channels"]):
            for step in chain:
                if step not in CHANNEL_STEPS:
                    errors.append(
                        f"{key}.channels.{index}: unknown channel step {step!r}; known: {list(CHANNEL_STEPS)}"
                    )
        total = sum(domain["proportions"].values())
        if abs(total - 1.0) > 1e-6:
            errors.append(f"{key}.proportions: fractions sum to {total:g}, expected 1")
        recordings = domain.get("long_recordings")
        if recordings:
            ranges = {"pause": recordings["pause"], **{f"seconds.{s}": r for s, r in recordings["seconds"].items()}}
            for field, (low, high) in ranges.items():
                if low > high:
                    errors.append(f"{key}.long_recordings.{field}: {low} must not exceed {high}")
    for name, dataset in config["datasets"].items():
        key = f"datasets.{name}"
        domain = domains.get(dataset["domain"])
        if domain is None:
            errors.append(f"{key}.domain: unknown domain {dataset['domain']!r}; known: {sorted(domains)}")
        elif dataset["proportion"] not in domain["proportions"]:
            errors.append(
                f"{key}.proportion: domain {dataset['domain']!r} has no {dataset['proportion']!r} part; "
                f"it has {sorted(domain['proportions'])}"
            )
        if dataset.get("max_seconds") is not None and "random_seconds" in dataset:
            errors.append(f"{key}: give max_seconds or random_seconds, not both")
        if "random_seconds" in dataset:
            low, high = dataset["random_seconds"]
            if low > high:
                errors.append(f"{key}.random_seconds: {low} must not exceed {high}")
    for section in ("pretrain", "posttrain", "finetune"):
        for field in ("store", "train_set", "valid_set"):
            name = config.get(section, {}).get(field)
            if name is not None and name not in config["datasets"]:
                errors.append(f"{section}.{field}: {name!r} is not a dataset; known: {sorted(config['datasets'])}")
    for model, grid_methods in config.get("grid", {}).items():
        if model not in config.get("models", {}):
            errors.append(f"grid.{model}: not a model; known: {sorted(config.get('models', {}))}")
        for method in grid_methods:
            if method not in config.get("methods", {}):
                errors.append(f"grid.{model}: unknown method {method!r}; known: {sorted(config.get('methods', {}))}")
    for method, settings in config.get("methods", {}).items():
        if settings["loss"] != "none" and "lr" not in settings:
            errors.append(f"methods.{method}: a trained method needs lr")
    for group, labels in config["test_sets"].items():
        for dataset in labels:
            if dataset not in config["datasets"]:
                errors.append(f"test_sets.{group}.{dataset}: not a dataset; known: {sorted(config['datasets'])}")
    return errors


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Raise ConfigError listing every problem (schema first, then cross-references); return config."""
    validator = jsonschema.Draft202012Validator(load_schema())
    problems = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = [_describe(error) for error in problems]
    if not messages:
        messages = _cross_reference_errors(config)
    if messages:
        listing = "\n  ".join(messages)
        raise ConfigError(f"{source}: invalid configuration:\n  {listing}")
    return config


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Recursive update, like Snakemake's merging of several --configfile files."""
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: config file not found") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(config).__name__}")
    return config


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Read YAML config files (later ones overlaid on earlier ones) and validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        config = merge(config, _read_yaml(Path(path)))
    return validate_config(config, source=" + ".join(str(p) for p in paths))
