"""docs/configuration.md, generated from the schema so that it cannot drift from it.

Every key of src/deepfake_rl/config_schema.yaml becomes a row: its dotted path (`<name>` for the entries of
a mapping, `[]` for the items of a list), its type and constraints, its default (the value in
config/config.yaml, else the schema's `default`) and its `description`. `$ref`s are followed; an object
definition used a second time (the GRPO and TSRL settings a method may override) is listed once and
referred to after that; the two corpus kinds (`if`/`then`/`else`) are listed as variants. Keys that
config/config.yaml sets but the schema does not list are shown too, marked as such.
tests/test_config_docs.py checks that the committed page equals this module's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from deepfake_rl.config import SCHEMA_PATH, load_schema
from deepfake_rl.io_utils import atomic_path

NAME, ITEM = "<name>", "[]"
MAX_DEFAULT_CHARS = 80
UNLISTED = "set in config/config.yaml but not listed in the schema (allowed: the schema admits other keys here)"
INTRO = """\
`config/config.yaml` is the embedded default. Every configuration is validated before any job runs, by
the Snakefile (`snakemake.utils.validate` against `src/deepfake_rl/config_schema.yaml`, also reachable as
`config/schema.yaml`) and, for readable messages and checks that span keys (a dataset naming an unknown
domain, an unknown attack, proportions that do not sum to 1), by `deepfake_rl.config.validate_config`.
An invalid value stops the run with every problem and its key, e.g.

```
config: invalid configuration:
  corpus.size: 'huge' is not one of ['tiny', 'default']
```

`python -m deepfake_rl check-config config/config.yaml [overlay.yaml ...]` runs the same checks without
running anything. Overlays merge over the default: `snakemake --configfile config/config.yaml my_overlay.yaml`
(put targets before `--configfile`, which takes several values). `config/paper.yaml` is a whole
configuration of its own (the paper's grid on the real corpora; see [reproducing.md](reproducing.md)).
Every value a job uses reaches it through Snakemake `params:`, so editing a key reruns exactly the jobs
it affects ([workflow.md](workflow.md#what-reruns-after-which-change)).

In the tables: **default** is the value in `config/config.yaml` (or, marked *(schema)*, the default the
schema fills in when the key is absent); an empty default means the key is not set there and the code's
default applies (for `grpo.*` and `tsrl.*`, the fields of `GRPOSettings` in
`src/deepfake_rl/methods/grpo.py` and `TSRLSettings` in `src/deepfake_rl/methods/tsrl.py`; for a method's
schedule keys, the `finetune` value). `<name>` stands for any entry of a mapping, `[]` for the items of a
list; they are described on the mapping's or the list's row."""


@dataclass(frozen=True)
class KeyDoc:
    """One row of the page."""

    path: str
    type: str
    default: str
    description: str


def _ref_name(node: Mapping[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The node with its $ref merged in (the node's own keys, e.g. its description, take precedence)."""
    node = dict(node)
    while (name := _ref_name(node)) is not None:
        node.pop("$ref")
        node = {**defs[name], **node}
    return node


def _number(value: Any) -> str:
    return json.dumps(value)


def type_text(node: Mapping[str, Any]) -> str:
    """`integer ≥ 1`, `one of: a, b`, `array of integer`, `string or null`..."""
    types = node.get("type", "object" if "properties" in node or "additionalProperties" in node else "")
    text = " or ".join(types) if isinstance(types, list) else str(types)
    if text == "array" and isinstance(node.get("items"), dict) and node["items"].get("type"):
        text = f"array of {type_text(node['items'])}"
    if "enum" in node:
        text = "one of: " + ", ".join(f"`{value}`" for value in node["enum"])
    if "const" in node:
        text = f"`{node['const']}`"
    bounds = [f"≥ {_number(node['minimum'])}" if "minimum" in node else "",
              f"> {_number(node['exclusiveMinimum'])}" if "exclusiveMinimum" in node else "",
              f"≤ {_number(node['maximum'])}" if "maximum" in node else "",
              f"< {_number(node['exclusiveMaximum'])}" if "exclusiveMaximum" in node else ""]
    bounds = [bound for bound in bounds if bound]
    if bounds:
        text += " " + ", ".join(bounds)
    if "minItems" in node and node.get("minItems") == node.get("maxItems"):
        text += f", {node['minItems']} items"
    elif "minItems" in node:
        text += f", at least {node['minItems']} item{'s' if node['minItems'] != 1 else ''}"
    if "pattern" in node:
        text += f", matching `{node['pattern']}`"
    return text.strip()


_MISSING = object()


def _lookup(config: Any, path: str) -> Any:
    """The value at a dotted path of the config, or _MISSING (paths with <name> or [] have none)."""
    value = config
    for part in path.split("."):
        if part == NAME or part.endswith(ITEM) or not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def default_text(node: Mapping[str, Any], path: str, config: Mapping[str, Any]) -> str:
    """The config's value (for a mapping: its entries), else the schema's default."""
    value = _lookup(config, path)
    if value is _MISSING:
        return f"`{json.dumps(node['default'])}` *(schema)*" if "default" in node else ""
    if isinstance(value, dict):
        if "properties" in node:
            return ""                       # a section: its keys have their own rows
        return ", ".join(f"`{key}`" for key in value) if value else "`{}`"
    text = json.dumps(value)
    if len(text) > MAX_DEFAULT_CHARS:
        text = text[:MAX_DEFAULT_CHARS - 2] + " …"
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


class _Walker:
    """Depth-first over the schema in its own key order, one KeyDoc per key."""

    def __init__(self, schema: Mapping[str, Any], config: Mapping[str, Any]):
        self.defs = schema.get("$defs", {})
        self.config = config
        self.expanded: dict[str, str] = {}   # object definition -> the path where it is listed
        self.emitted: set[tuple[str, str]] = set()   # (path, variant); a key common to all variants once

    def walk(self, node: Mapping[str, Any], path: str, variant: str = "", in_config: bool = True
             ) -> Iterator[KeyDoc]:
        """Rows of a key and its children; in_config False: a variant config/config.yaml does not use."""
        ref = _ref_name(node)
        node = _resolve(node, self.defs)
        if (path, "") not in self.emitted and (path, variant) not in self.emitted:
            self.emitted.add((path, variant))
            description = node.get("description", "")
            if variant:
                description = f"*{variant}:* {description}".strip()
            config = self.config if in_config else {}
            yield KeyDoc(path, type_text(node), default_text(node, path, config), _cell(description))
        if ref is not None and "properties" in node:
            self.expanded.setdefault(ref, path)
        yield from self.children(node, path, variant, in_config)

    def children(self, node: Mapping[str, Any], path: str, variant: str, in_config: bool) -> Iterator[KeyDoc]:
        for key, child in node.get("properties", {}).items():
            yield from self.walk(child, f"{path}.{key}", variant, in_config)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            yield from self.walk(extra, f"{path}.{NAME}", variant, in_config)
        items = node.get("items")
        if isinstance(items, dict) and "properties" in _resolve(items, self.defs):
            yield from self.walk(items, f"{path}{ITEM}", variant, in_config)
        if "if" in node:   # the corpus kinds: the default (else: embedded) first
            holds = jsonschema.Draft202012Validator(node["if"]).is_valid(_lookup(self.config, path))
            for branch, applies in (("else", not holds), ("then", holds)):
                if branch in node:
                    name = (_ref_name(node[branch]) or branch).replace("_", " ")
                    yield from self.children(_resolve(node[branch], self.defs), path, name, in_config and applies)
        for part in node.get("allOf", []):
            name = _ref_name(part)
            if name in self.expanded:
                yield KeyDoc(f"{path}.*", f"any key of `{self.expanded[name]}`", "",
                             _cell(f"overrides `{self.expanded[name]}.<key>` for this entry"))
            else:
                yield from self.children(_resolve(part, self.defs), path, variant, in_config)


def _config_paths(config: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every mapping key of the config (not inside lists)."""
    if isinstance(config, dict):
        for key, value in config.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _config_paths(value, path)


def _pattern(path: str) -> re.Pattern[str]:
    text = re.escape(path).replace(re.escape(NAME), r"[^.]+").replace(r"\.\*", r"\..+")
    return re.compile(f"{text}$")


def key_docs(schema: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, list[KeyDoc]]:
    """Rows per top-level key, in the schema's order, with the config's unlisted keys at the end of each."""
    walker = _Walker(schema, config)
    sections = {key: list(walker.walk(node, key)) for key, node in schema.get("properties", {}).items()}
    documented = [_pattern(doc.path) for docs in sections.values() for doc in docs]
    for path in _config_paths(config):
        if not any(pattern.match(path) for pattern in documented):
            value = _lookup(config, path)
            section = sections.setdefault(path.split(".")[0], [])
            kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
                    dict: "object"}.get(type(value), "")
            section.append(KeyDoc(path, kind, default_text({}, path, config), UNLISTED))
            documented.append(_pattern(path))
    return sections


def _anchor(key: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", key.lower())


def render_config_docs(schema: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The whole page: intro, contents, one table per top-level key."""
    sections = key_docs(schema, config)
    lines = ["# Configuration", "",
             "<!-- generated by `python -m deepfake_rl config-docs` from src/deepfake_rl/config_schema.yaml and "
             "config/config.yaml; do not edit by hand: tests/test_config_docs.py fails when it is out of date -->",
             "", INTRO, "",
             "Sections: " + ", ".join(f"[`{key}`](#{_anchor(key)})" for key in sections) + ".", ""]
    for key, docs in sections.items():
        lines += [f"## {key}", "", "| key | type | default | description |", "| --- | --- | --- | --- |"]
        lines += [f"| `{_cell(doc.path)}` | {_cell(doc.type)} | {doc.default.replace('|', chr(92) + '|')} | "
                  f"{doc.description} |" for doc in docs]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def generate(config_path: str | Path = "config/config.yaml") -> str:
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    return render_config_docs(load_schema(), config)


def write_config_docs(out: str | Path = "docs/configuration.md", config_path: str | Path = "config/config.yaml") -> str:
    page = generate(config_path)
    with atomic_path(out) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return page


def check_config_docs(out: str | Path = "docs/configuration.md", config_path: str | Path = "config/config.yaml") -> str:
    """'' if the committed page equals the generator's output, else what to run."""
    out = Path(out)
    current = out.read_text(encoding="utf-8") if out.is_file() else None
    if current == generate(config_path):
        return ""
    return (f"{out} is out of date with {SCHEMA_PATH.name} / {config_path}: run "
            f"`python -m deepfake_rl config-docs --out {out}`")
