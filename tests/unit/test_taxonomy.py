"""The taxonomy is the one list of ids: aliases, custom types and the model-label check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mining.classify.data import LabelIds, labelled_examples
from mining.classify.model import LabelSpace
from mining.taxonomy import Taxonomy, TaxonomyMismatch

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "taxonomy.yaml"


def _raw() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _renamed(tmp_path: Path) -> Taxonomy:
    """`waiting` renamed to `delays`, and `staff_error` merged into `staff_attitude`."""
    raw = _raw()
    types = raw["failure_types"]
    types["delays"] = {**types.pop("waiting"), "aliases": ["waiting"]}
    types.pop("staff_error")
    types["staff_attitude"]["aliases"] = ["staff_error"]
    return Taxonomy.load(_write(tmp_path, raw))


def test_shipped_model_matches_the_shipped_taxonomy() -> None:
    taxonomy = Taxonomy.load(SHIPPED)
    model = REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip()
    labels = LabelSpace.load(model / "labels.json")
    mapped = taxonomy.model_label_map(labels.failure_types, labels.responses, labels.sentiments)
    assert mapped == labels.failure_types == taxonomy.builtin_failure_type_ids
    # The model's own copy of the taxonomy it was trained with agrees too.
    assert Taxonomy.load(model / "taxonomy.yaml").builtin_failure_type_ids == mapped


def test_training_ids_come_from_the_taxonomy() -> None:
    ids = LabelIds.load(SHIPPED)
    raw = _raw()
    assert ids.failure_types == list(raw["failure_types"])
    assert ids.responses == list(raw["responses"])
    assert ids.sentiments == raw["sentiments"]


def test_aliases_map_old_ids_and_the_model_check_accepts_them(tmp_path: Path) -> None:
    taxonomy = _renamed(tmp_path)
    assert taxonomy.canonical("waiting") == "delays"
    assert taxonomy.root_cause_of("waiting") == "process_system"
    assert taxonomy.root_cause_of("staff_error") == "people"
    labels = LabelSpace.load(REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip()
                             / "labels.json")
    mapped = taxonomy.model_label_map(labels.failure_types, labels.responses, labels.sentiments)
    assert mapped[labels.failure_types.index("waiting")] == "delays"
    assert mapped[labels.failure_types.index("staff_error")] == "staff_attitude"


def test_a_mismatch_is_one_error_naming_the_ids(tmp_path: Path) -> None:
    raw = _raw()
    raw["failure_types"]["allergens"] = {"root_cause": "product", "description": "x"}
    del raw["failure_types"]["waiting"]  # renamed without an alias
    taxonomy = Taxonomy.load(_write(tmp_path, raw))
    model_types = list(_raw()["failure_types"])
    with pytest.raises(TaxonomyMismatch) as error:
        taxonomy.model_label_map(model_types, taxonomy.response_ids, taxonomy.sentiments,
                                 "radar-e5/x")
    message = str(error.value)
    assert "radar-e5/x predicts failure types the taxonomy does not have" in message
    assert "waiting" in message and "allergens" in message
    with pytest.raises(TaxonomyMismatch, match="responses"):
        Taxonomy.load(SHIPPED).model_label_map(model_types, ["voice"], taxonomy.sentiments)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t["failure_types"]["waiting"].update(aliases=["staff_error"]),
     "is itself a failure type id"),
    (lambda t: (t["failure_types"]["waiting"].update(aliases=["late"]),
                t["failure_types"]["staff_error"].update(aliases=["late"])),
     "is given by both"),
    (lambda t: t["failure_types"].update(noise={"root_cause": "product", "kind": "custom"}),
     "needs `examples:`"),
    (lambda t: t["failure_types"]["waiting"].update(enabled=False), "cannot be disabled"),
    (lambda t: t["failure_types"]["waiting"].update(root_cause="weather"),
     "unknown root causes"),
])
def test_inconsistent_taxonomies_are_refused(tmp_path: Path, change, message: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(ValueError, match=message):
        Taxonomy.load(_write(tmp_path, raw))


def test_custom_types_follow_the_built_in_ones(tmp_path: Path) -> None:
    raw = _raw()
    raw["failure_types"]["noise"] = {"root_cause": "product", "kind": "custom",
                                     "examples": "custom_types/noise.csv"}
    raw["failure_types"]["parking"] = {"root_cause": "product", "kind": "custom",
                                       "examples": "custom_types/parking.csv", "enabled": False}
    taxonomy = Taxonomy.load(_write(tmp_path, raw))
    assert taxonomy.failure_type_ids[-1] == "noise"
    assert "parking" not in taxonomy.failure_type_ids
    assert taxonomy.examples_path("noise") == tmp_path / "custom_types" / "noise.csv"
    assert LabelIds.of(taxonomy).failure_types == taxonomy.builtin_failure_type_ids
    assert LabelIds.of(taxonomy, with_custom=True).custom == ["noise"]


def test_labelled_files_read_old_ids_as_current_and_refuse_unknown_ones(tmp_path: Path) -> None:
    ids = LabelIds.of(_renamed(tmp_path))
    path = tmp_path / "labels.csv"
    header = "id,text,language,sentiment,failure_types,response,split\n"
    path.write_text(header + "1,we waited,en,negative,waiting;staff_error,none,train\n",
                    encoding="utf-8")
    (example,) = labelled_examples(path, "t", ids)
    assert {t for t, v in example.failures.items() if v} == {"delays", "staff_attitude"}
    path.write_text(header + "1,x,en,negative,lateness,none,train\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: failure type 'lateness'"):
        labelled_examples(path, "t", ids)
    assert json.dumps(ids.aliases)  # plain data, written into model metadata as is
