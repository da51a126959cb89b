"""Load and validate the workflow configuration, with errors that name the key and the allowed values.

Snakemake's own validator reports jsonschema internals; researchers editing a YAML file need
"corpus.size: 'huge' is not one of ['tiny', 'default']" instead, plus the cross-references a schema
cannot express (a dataset naming an unknown domain, a test set naming an unknown dataset).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the problem."""


@functools.cache
def _schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON schema (kept as YAML) that the Snakefile and the CLI both validate against."""
    return yaml.safe_load(_schema_text())


def _key_path(path: Any) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One readable line for a schema violation."""
    where = _key_path(error.absolute_path)
    if error.validator == "enum":
        why = error.schema.get("description")    # e.g. why a value was removed (drift.estimator: auto)
        return f"{where}: {error.instance!r} is not one of {error.validator_value}" + (f" ({why})" if why else "")
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "additionalProperties" and error.validator_value is False:
        return f"{where}: {error.message} (check the spelling of the key)"
    return f"{where}: {error.message}"


def _cross_reference_errors(config: dict[str, Any]) -> list[str]:
    """Checks that need more than one key: references between sections, ranges, sums."""
    from deepfake_rl.data.embedded.attacks import ATTACKS
    from deepfake_rl.data.embedded.channels import CHANNEL_STEPS

    errors: list[str] = []
    domains = config["corpus"]["domains"]
    real = config["corpus"]["kind"] == "real"
    if real:
        errors.extend(_real_corpus_errors(config))
    for name, domain in ({} if real else domains).items():
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
        elif dataset["proportion"] not in _domain_proportions(domain, real):
            errors.append(
                f"{key}.proportion: domain {dataset['domain']!r} has no {dataset['proportion']!r} part; "
                f"it has {sorted(_domain_proportions(domain, real))}"
                + (REAL_NO_VALID_HINT if real and domain["loader"] == "dfe24" else "")
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
    errors.extend(_finetune_errors(config))
    method_errors = _method_errors(config)
    errors.extend(method_errors)
    if not method_errors:  # base_init() follows `init` chains: only once they are known to be sound
        errors.extend(_checkpoint_errors(config))
    errors.extend(_analysis_errors(config))
    for group, labels in config["test_sets"].items():
        for dataset in labels:
            if dataset not in config["datasets"]:
                errors.append(f"test_sets.{group}.{dataset}: not a dataset; known: {sorted(config['datasets'])}")
    return errors


# ---- real corpora and imported checkpoints (config/paper.yaml) ---------------------------------------

PLACEHOLDER_PREFIX = "/path/to/"
REAL_NO_VALID_HINT = (" (Deepfake-Eval-2024 has no validation split: the paper validates on ASVspoof 2019 LA dev, "
                      "a domain with loader asv19la and options {parts: [dev]})")
EMBEDDED_DOMAIN_KEYS = ("sources", "attacks", "channels", "proportions", "n_real", "long_recordings")


def _merged_over_embedded(config: dict[str, Any]) -> list[str]:
    """A real-corpus config merged over the embedded default: Snakemake merges --configfile files over the
    Snakefile's config/config.yaml key by key, and keys of the default (the embedded domains, the pool
    datasets) cannot be removed by an overlay. Reported before the schema, whose messages would not say so."""
    corpus = config.get("corpus")
    if not isinstance(corpus, dict) or corpus.get("kind") != "real":
        return []
    domains = corpus.get("domains") if isinstance(corpus.get("domains"), dict) else {}
    leftovers = (["corpus.size"] if "size" in corpus else []) + [
        f"corpus.domains.{name}" for name, domain in domains.items()
        if isinstance(domain, dict) and set(domain) & set(EMBEDDED_DOMAIN_KEYS)]
    if not leftovers:
        return []
    return [f"corpus: kind is 'real' but the configuration still holds the embedded corpus ({', '.join(leftovers[:4])}"
            f"{' ...' if len(leftovers) > 4 else ''}): a whole real-corpus configuration such as config/paper.yaml was "
            "merged over config/config.yaml. Give it without config/config.yaml: snakemake --configfile "
            "config/paper.yaml my_paths.yaml ... (the Snakefile reads config/config.yaml only when no --configfile "
            "is given)"]


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)


def _domain_proportions(domain: dict[str, Any], real: bool) -> list[str]:
    if not real:
        return list(domain["proportions"])
    from deepfake_rl.data.real_corpus import loader_proportions

    return list(loader_proportions(domain["loader"], domain.get("options")))


def _real_corpus_errors(config: dict[str, Any]) -> list[str]:
    """Loader options that exist, roots that are not the placeholders of config/paper.yaml."""
    from deepfake_rl.data.real_corpus import option_errors

    errors: list[str] = []
    for name, domain in config["corpus"]["domains"].items():
        key = f"corpus.domains.{name}"
        if _placeholder(domain["root"]):
            errors.append(f"{key}.root: {domain['root']!r} is a placeholder: set the folder of your copy of the "
                          "corpus in your paths file (README, 'Reproducing the paper')")
        errors.extend(option_errors(domain["loader"], domain.get("options", {}), key))
    return errors


def _checkpoint_errors(config: dict[str, Any]) -> list[str]:
    """Imported checkpoints: of configured models, the ones the grid needs, not placeholders; a model
    without them must be pre-/post-trained by the workflow."""
    errors: list[str] = []
    models, checkpoints = config.get("models", {}), config.get("checkpoints", {})
    for model, entry in checkpoints.items():
        if model not in models:
            errors.append(f"checkpoints.{model}: not a model; known: {sorted(models)}")
        for kind in BASE_INITS:
            if _placeholder(entry.get(kind)):
                errors.append(f"checkpoints.{model}.{kind}: {entry[kind]!r} is a placeholder: set the path of the "
                              "downloaded checkpoint in your paths file (README, 'Reproducing the paper')")
    methods = config.get("methods", {})
    for model, grid_methods in config.get("grid", {}).items():
        known = [method for method in grid_methods if method in methods]
        if not known or model not in models:
            continue
        needed = {base_init(config, method) for method in known}
        if model in checkpoints:
            for kind in sorted(needed - set(checkpoints[model])):
                users = [m for m in known if base_init(config, m) == kind]
                errors.append(f"checkpoints.{model}.{kind}: needed by grid.{model} methods {users} (they start from "
                              f"the {kind} model); give the file, or remove those methods")
        else:
            missing = [section for section in ("pretrain", "posttrain") if section not in config]
            if missing:
                errors.append(f"grid.{model}: no checkpoints.{model} to import and no {' / '.join(missing)} "
                              f"section to train it: set checkpoints.{model}.posttrained (and .pretrained) or "
                              "configure pre-/post-training")
    return errors


# keys every method entry may carry, whatever its family (the rest belong to its loss family)
METHOD_KEYS = ("loss", "init", "reference", "lr", "lr_schedule", "epochs", "max_steps", "valid_every", "batch_size")
SCHEDULE_DEFAULT_KEYS = ("lr", "lr_schedule", "epochs", "max_steps", "valid_every")
BASE_INITS = ("posttrained", "pretrained")


def finetune_shared_settings(finetune: dict[str, Any]) -> dict[str, Any]:
    """The `finetune` settings every run shares (data, freezing, batching, precision): not the seeds (a wildcard),
    the resume cadence (speed only) or the schedule defaults, which reach each run through its method's settings,
    so that editing one of them reruns only the methods it applies to."""
    return {k: v for k, v in finetune.items() if k not in ("seeds", "checkpoint_every", *SCHEDULE_DEFAULT_KEYS)}


def family_keys(loss: str) -> set[str]:
    """Hyper-parameters of a loss family, from the schema's `<family>_settings` definition."""
    definition = load_schema()["$defs"].get(f"{loss}_settings")
    return set(definition["properties"]) if definition else set()


def _finetune_errors(config: dict[str, Any]) -> list[str]:
    """A crop range in order; learning-rate schedules (finetune's and methods' own) that can be built."""
    from deepfake_rl.train.lr_schedule import LRSchedule

    errors: list[str] = []
    finetune = config.get("finetune", {})
    crop = finetune.get("crop_seconds")
    if isinstance(crop, list) and crop[0] > crop[1]:
        errors.append(f"finetune.crop_seconds: [min, max] = {crop}: {crop[0]} must not exceed {crop[1]}")
    schedules = {"finetune.lr_schedule": finetune.get("lr_schedule")}
    schedules.update({f"methods.{name}.lr_schedule": entry.get("lr_schedule")
                      for name, entry in config.get("methods", {}).items()})
    for key, spec in schedules.items():
        if spec is not None:
            try:
                LRSchedule.from_config(1.0, spec)
            except (TypeError, ValueError) as error:
                errors.append(f"{key}: {error}")
    return errors


def _method_errors(config: dict[str, Any]) -> list[str]:
    """Family keys used by the right family, `init` chains that end at a base checkpoint, an lr."""
    errors: list[str] = []
    methods = config.get("methods", {})
    for name, entry in methods.items():
        key = f"methods.{name}"
        foreign = sorted(set(entry) - set(METHOD_KEYS) - family_keys(entry["loss"]))
        if foreign:
            errors.append(f"{key}: {foreign} are not settings of the {entry['loss']!r} family")
        if entry["loss"] == "none":
            continue
        if "lr" not in entry and "lr" not in config.get("finetune", {}):
            errors.append(f"{key}: a trained method needs lr (here or in finetune.lr)")
        seen, init = [name], entry.get("init", "posttrained")
        while init not in BASE_INITS:
            if init not in methods:
                errors.append(f"{key}.init: {init!r} is neither {' nor '.join(BASE_INITS)} nor a method")
                break
            if init in seen:
                errors.append(f"{key}.init: cycle {' -> '.join([*seen, init])}")
                break
            if methods[init]["loss"] == "none":
                errors.append(f"{key}.init: {init!r} is not trained; start from its own init instead")
                break
            seen.append(init)
            init = methods[init].get("init", "posttrained")
    return errors


def _analysis_errors(config: dict[str, Any]) -> list[str]:
    """Drift and uncertainty settings must name datasets, models and methods that exist."""
    errors: list[str] = []
    drift = config.get("drift", {})
    if drift and drift["reference"] not in config["datasets"]:
        errors.append(f"drift.reference: {drift['reference']!r} is not a dataset; known: {sorted(config['datasets'])}")
    methods = config.get("methods", {})
    for name, figure in drift.get("figures", {}).items():
        if figure["model"] not in config.get("models", {}):
            errors.append(f"drift.figures.{name}.model: {figure['model']!r} is not a model")
        errors.extend(f"drift.figures.{name}.methods: unknown method {m!r}" for m in figure["methods"] if m not in methods)
    for index, pair in enumerate(config.get("uncertainty", {}).get("comparisons", [])):
        errors.extend(f"uncertainty.comparisons.{index}: unknown method {m!r}" for m in pair if m not in methods)
    errors.extend(f"uncertainty.averages: {group!r} is not a test_sets group; known: {sorted(config['test_sets'])}"
                  for group in config.get("uncertainty", {}).get("averages", []) if group not in config["test_sets"])
    return errors


def method_settings(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A method's full settings: schedule defaults from `finetune` (lr, lr_schedule, epochs, ...), then
    its loss family's shared block (e.g. top-level `grpo`), then the method's own entry (key by key: an
    `lr_schedule` there replaces finetune's as a whole); `init` defaults to posttrained and
    `reference` to the starting checkpoint. Each job gets exactly this dict as a param, so a changed
    family value reruns the methods that use it and no others."""
    entry = config["methods"][name]
    settings: dict[str, Any] = {"init": "posttrained"}
    if entry["loss"] != "none":
        finetune = config.get("finetune", {})
        settings.update({k: finetune[k] for k in SCHEDULE_DEFAULT_KEYS if k in finetune})
        settings["reference"] = "init"
        settings.update(config.get(entry["loss"], {}))
    settings.update(entry)
    if _is_eq11(settings):   # GRPO w/o neg. as Eq. 11 has no ratio: the clip and old-policy keys are unused
        for key in EQ11_UNUSED_KEYS.difference(entry):
            settings.pop(key, None)
    return settings


# The shared `grpo` keys GRPO w/o neg. in its Eq. 11 form never reads: left out of its settings, so
# editing them reruns the ratio-based GRPO methods only.
EQ11_UNUSED_KEYS = frozenset({"epsilon", "old_refresh_steps"})


def is_eq11(negative: bool, noneg_form: str) -> bool:
    """The paper's GRPO "w/o neg." in its Eq. 11 form (A = r, no ratio, no clipping): one definition for
    the settings here and for `methods.grpo.GRPOSettings.eq11`."""
    return not negative and noneg_form == "eq11"


def _is_eq11(settings: dict[str, Any]) -> bool:
    return settings.get("loss") == "grpo" and is_eq11(settings.get("negative", True) is not False,
                                                      settings.get("noneg_form", "eq11"))


def base_init(config: dict[str, Any], name: str) -> str:
    """The checkpoint a method's chain of `init`s starts from: posttrained or pretrained."""
    init = method_settings(config, name)["init"]
    return init if init in BASE_INITS else base_init(config, init)


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Raise ConfigError listing every problem (schema first, then cross-references); return config."""
    messages = _merged_over_embedded(config)
    if messages:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(messages))
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
