"""docs/configuration.md is generated from the schema and config/config.yaml, and the committed page is
that output (issue 18 item 2): a key added to the schema without regenerating the page fails here."""

from __future__ import annotations

import pytest
import yaml

from deepfake_rl.__main__ import main
from deepfake_rl.config import load_schema
from deepfake_rl.config_docs import ITEM, NAME, UNLISTED, check_config_docs, generate, key_docs, render_config_docs

SCHEMA = yaml.safe_load("""
type: object
properties:
  corpus:
    description: the corpus
    type: object
    required: [kind]
    properties:
      kind: {type: string, enum: [small, real]}
    if: {properties: {kind: {const: real}}, required: [kind]}
    then: {$ref: "#/$defs/real_corpus"}
    else: {$ref: "#/$defs/small_corpus"}
  grpo: {$ref: "#/$defs/settings", description: "the family block"}
  methods:
    type: object
    additionalProperties:
      type: object
      properties:
        loss: {type: string, description: "none | sft"}
      allOf: [{$ref: "#/$defs/settings"}]
  models:
    type: object
    additionalProperties:
      type: object
      properties:
        size: {type: [integer, "null"], minimum: 1, description: "hidden size"}
$defs:
  settings:
    type: object
    properties:
      beta: {type: number, minimum: 0, description: "KL weight"}
      kl: {type: string, enum: [k3, exact], default: k3}
  small_corpus:
    type: object
    properties:
      kind: {type: string, enum: [small]}
      seed: {type: integer, description: "corpus seed"}
      domains:
        type: object
        additionalProperties:
          type: object
          properties:
            sources: {type: array, items: {type: object, properties: {speaker: {type: string}}}}
  real_corpus:
    type: object
    properties:
      kind: {type: string, enum: [real]}
      seed: {type: integer, description: "segment seed"}
      verify: {type: string, enum: [decode, header], default: decode}
""")
CONFIG = {"corpus": {"kind": "small", "seed": 7, "domains": {"a": {}, "b": {}}}, "grpo": {"beta": 0.04},
          "methods": {"grpo": {"loss": "grpo", "beta": 1.0}}, "models": {"m": {"size": 8, "extra": 3}}}


def rows(sections):
    return {(doc.path, doc.description.split(":*")[0]): doc for docs in sections.values() for doc in docs}


def test_keys_types_defaults_and_descriptions_by_hand():
    sections = key_docs(SCHEMA, CONFIG)
    assert list(sections) == ["corpus", "grpo", "methods", "models"]
    paths = [doc.path for doc in sections["corpus"]]
    # the kind common to both variants once; the default variant (else) first; lists of objects as []
    assert paths == ["corpus", "corpus.kind", "corpus.seed", "corpus.domains", "corpus.domains.<name>",
                     "corpus.domains.<name>.sources", "corpus.domains.<name>.sources[]",
                     "corpus.domains.<name>.sources[].speaker", "corpus.seed", "corpus.verify"]
    small_seed, real_seed = sections["corpus"][2], sections["corpus"][8]
    assert (small_seed.default, small_seed.description) == ("`7`", "*small corpus:* corpus seed")
    # the variant the config does not use shows no config values, only the schema's defaults
    assert (real_seed.default, real_seed.description) == ("", "*real corpus:* segment seed")
    assert sections["corpus"][9].default == '`"decode"` *(schema)*'
    assert sections["corpus"][3].default == "`a`, `b`"                       # a mapping: its entries
    grpo = {doc.path: doc for doc in sections["grpo"]}
    assert grpo["grpo"].description == "the family block"                  # the $ref's own description wins
    assert (grpo["grpo.beta"].type, grpo["grpo.beta"].default) == ("number ≥ 0", "`0.04`")
    assert grpo["grpo.kl"].type == "one of: `k3`, `exact`" and grpo["grpo.kl"].default == '`"k3"` *(schema)*'
    methods = [(doc.path, doc.type, doc.description) for doc in sections["methods"]]
    assert methods[-1] == ("methods.<name>.*", "any key of `grpo`", "overrides `grpo.<key>` for this entry")
    assert ("methods.<name>.loss", "string", "none \\| sft") in methods          # pipes escaped in cells
    models = {doc.path: doc for doc in sections["models"]}
    assert models["models.<name>.size"].type == "integer or null ≥ 1"
    assert models["models.m.extra"].description == UNLISTED and models["models.m.extra"].default == "`3`"
    assert "methods.grpo.beta" not in {doc.path for doc in sections["methods"]}  # covered by methods.<name>.*


def test_the_page_is_deterministic_and_names_every_section():
    page = render_config_docs(SCHEMA, CONFIG)
    assert page == render_config_docs(SCHEMA, CONFIG)
    assert "## corpus\n\n| key | type | default | description |" in page
    assert "| `corpus.seed` | integer |  | *real corpus:* segment seed |" in page


def test_the_committed_page_is_the_generators_output(repo):
    problem = check_config_docs(repo / "docs" / "configuration.md", repo / "config" / "config.yaml")
    assert problem == "", problem


def test_every_schema_key_has_a_description(repo):
    """New keys come with a description (the team's rule), so the page documents every key; the entries of
    a mapping (`<name>`) and the items of a list (`[]`) are described by the mapping's or list's row."""
    with open(repo / "config" / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    missing = [doc.path for docs in key_docs(load_schema(), config).values() for doc in docs
               if not doc.description.split(":*")[-1].strip() and not doc.path.endswith((".*", NAME, ITEM))]
    assert missing == []


def test_command_line_check_fails_on_an_outdated_page(repo, tmp_path, capsys):
    out = tmp_path / "configuration.md"
    config = str(repo / "config" / "config.yaml")
    assert main(["config-docs", "--config", config, "--out", str(out)]) == 0
    assert out.read_text() == generate(config)
    assert main(["config-docs", "--config", config, "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("| `data_dir` |", "| `data_dir_edited` |"))
    assert main(["config-docs", "--config", config, "--out", str(out), "--check"]) == 1
    assert "is out of date" in capsys.readouterr().err


@pytest.mark.parametrize("node,text", [({"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                         "maxItems": 2}, "array of integer, 2 items"),
                                       ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                                        "number > 0, < 1")])
def test_type_text(node, text):
    from deepfake_rl.config_docs import type_text

    assert type_text(node) == text
