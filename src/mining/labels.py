"""Corrections in a loop: export the stored items the model is least sure of, import an
analyst's corrections, keep them (with who and when) for the next training.

The corrections file is in the gold format (`id,text,language,sentiment,failure_types,response`,
`;`-separated ids, `none` for no label) plus `labeller,labelled_at,source_file,notes`. It holds
the newest correction per id; every version ever stored is also appended to its history file,
so nothing an analyst labelled is lost. Parsing, margins and spreading are pure functions; only
`read_rows`, `write_*` and `store_corrections` touch the disk.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mining.redact import redact
from mining.taxonomy import Taxonomy

GOLD_COLUMNS = ["id", "text", "language", "sentiment", "failure_types", "response"]
EXPORT_COLUMNS = [*GOLD_COLUMNS, "site", "nearest_label", "margin", "labeller", "notes"]
CORRECTION_COLUMNS = [*GOLD_COLUMNS, "labeller", "labelled_at", "source_file", "notes"]
# Which columns decide whether a correction changed (who and when do not).
LABEL_COLUMNS = ("text", "language", "sentiment", "failure_types", "response")
REQUIRED_COLUMNS = ("id", "text", "sentiment", "failure_types", "response")
NONE = "none"
# Above any probability: a label with this threshold is never predicted (train.DISABLED_THRESHOLD).
DISABLED_THRESHOLD = 1.0
_LANGUAGE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]+)?$")
MAX_LISTED_PROBLEMS = 20


class CorrectionsInvalid(ValueError):
    """Rows of a corrections file that cannot be stored; names every bad line."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(listed)
        tail = f"; and {more} more" if more else ""
        super().__init__(f"{path}: {len(self.problems)} bad row(s), nothing stored: "
                         f"{'; '.join(listed)}{tail}")


# -- export ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """The decision thresholds of one model version (from its labels.json)."""

    failure: Mapping[str, float]
    response: Mapping[str, float]
    disabled: frozenset[str] = frozenset()


@dataclass
class Candidate:
    """A stored feedback item with its current prediction and how close it is to a threshold."""

    item_id: str
    site: str
    language: str
    text: str
    sentiment: str
    failure_types: list[str]
    responses: list[str]
    nearest_label: str
    margin: float
    model_version: str = ""
    scores: dict[str, float] = field(default_factory=dict)


def nearest_threshold(failure_scores: Mapping[str, float], response_scores: Mapping[str, float],
                      thresholds: Thresholds) -> tuple[str, float] | None:
    """The enabled label whose score is closest to its threshold, and that distance.

    A label without a threshold, disabled, or with a never-reached threshold is not a decision
    the model makes, so it is no reason to ask an analyst. None when no label counts.
    """
    best: tuple[str, float] | None = None
    for scores, limits in ((failure_scores, thresholds.failure),
                           (response_scores, thresholds.response)):
        for label, score in scores.items():
            limit = limits.get(label)
            if limit is None or label in thresholds.disabled or limit >= DISABLED_THRESHOLD:
                continue
            distance = abs(float(score) - float(limit))
            if best is None or distance < best[1] - 1e-12:
                best = (label, distance)
    return best


def candidates(rows: Iterable[Mapping[str, Any]], thresholds: Mapping[str, Thresholds],
               taxonomy: Taxonomy, skip_ids: Iterable[str] = ()) -> list[Candidate]:
    """Stored predictions (rows of the `label_candidates` query) as candidates with margins.

    `thresholds` is keyed by model version; rows of a version it lacks are an error (a margin to
    another model's thresholds means nothing). Items in `skip_ids` (already corrected) and
    items with no enabled label are left out. Ids are mapped to the taxonomy's current ids.
    """
    skip = set(skip_ids)
    out = []
    for row in rows:
        if row["item_id"] in skip:
            continue
        version = row["model_version"]
        if version not in thresholds:
            raise KeyError(f"no thresholds for model {version}")
        failure_scores = _scores(row["failure_scores"])
        response_scores = _scores(row["response_scores"])
        nearest = nearest_threshold(failure_scores, response_scores, thresholds[version])
        if nearest is None:
            continue
        label, margin = nearest
        out.append(Candidate(
            item_id=row["item_id"], site=row["site"], language=row["language"] or "",
            text=row["text"], sentiment=row["sentiment"],
            failure_types=_ordered({taxonomy.canonical(t) for t in row["failure_types"] or []},
                                   list(taxonomy.failure_types)),
            responses=_ordered(set(row["responses"] or []), taxonomy.response_ids),
            nearest_label=taxonomy.canonical(label), margin=margin, model_version=version,
            scores={**failure_scores, **response_scores}))
    return out


def _scores(value: str | Mapping[str, float] | None) -> dict[str, float]:
    if value is None:
        return {}
    raw = json.loads(value) if isinstance(value, str) else value
    return {str(k): float(v) for k, v in raw.items()}


def spread(items: Sequence[Candidate], n: int) -> list[Candidate]:
    """The `n` least certain items, spread over (nearest label, site) groups.

    Round-robin: each round takes the least certain remaining item of every group, in order of
    margin, so one busy site or one noisy label cannot fill the whole batch.
    """
    groups: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for item in sorted(items, key=lambda c: (c.margin, c.item_id)):
        groups[(item.nearest_label, item.site)].append(item)
    chosen: list[Candidate] = []
    depth = 0
    while len(chosen) < n:
        layer = [g[depth] for g in groups.values() if len(g) > depth]
        if not layer:
            break
        layer.sort(key=lambda c: (c.margin, c.item_id))
        chosen += layer[:n - len(chosen)]
        depth += 1
    return chosen


def _ordered(ids: set[str], order: Sequence[str]) -> list[str]:
    """`ids` in taxonomy order; ids the order lacks (should not happen) last, sorted."""
    known = [i for i in order if i in ids]
    return known + sorted(ids - set(known))


def join_ids(ids: Sequence[str]) -> str:
    return ";".join(ids) if ids else NONE


def export_rows(chosen: Sequence[Candidate]) -> list[dict[str, str]]:
    """The CSV rows an analyst edits: gold columns pre-filled with the current labels."""
    return [{"id": c.item_id, "text": c.text, "language": c.language, "sentiment": c.sentiment,
             "failure_types": join_ids(c.failure_types), "response": join_ids(c.responses),
             "site": c.site, "nearest_label": c.nearest_label, "margin": f"{c.margin:.4f}",
             "labeller": "", "notes": ""} for c in chosen]


def label_studio_tasks(chosen: Sequence[Candidate]) -> list[dict[str, Any]]:
    """Label Studio tasks (`data.text`) with the current labels as a pre-filled prediction; the
    labelling config is `label_studio_config`."""
    tasks = []
    for c in chosen:
        result = [
            _choices("sentiment", [c.sentiment]),
            _choices("failure_types", c.failure_types or [NONE]),
            _choices("response", c.responses or [NONE]),
        ]
        tasks.append({
            "data": {"text": c.text, "item_id": c.item_id, "site": c.site,
                     "language": c.language, "nearest_label": c.nearest_label,
                     "margin": round(c.margin, 4)},
            "predictions": [{"model_version": c.model_version,
                             "score": round(1.0 - c.margin, 4), "result": result}],
        })
    return tasks


def _choices(name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"from_name": name, "to_name": "text", "type": "choices",
            "value": {"choices": list(values)}}


def label_studio_config(taxonomy: Taxonomy) -> str:
    """The Label Studio labelling interface for the tasks: one choice group per head."""

    def group(name: str, values: Sequence[str], single: bool) -> str:
        kind = "single" if single else "multiple"
        inner = "".join(f'    <Choice value="{v}"/>\n' for v in values)
        return (f'  <Choices name="{name}" toName="text" choice="{kind}" showInLine="true">\n'
                f"{inner}  </Choices>\n")

    return ('<View>\n  <Text name="text" value="$text"/>\n'
            + group("sentiment", taxonomy.sentiments, True)
            + group("failure_types", [*taxonomy.failure_types, NONE], False)
            + group("response", [*taxonomy.response_ids, NONE], False)
            + "</View>\n")


def write_csv(rows: Sequence[Mapping[str, str]], columns: Sequence[str], path: Path) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def write_json(value: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, path)


# -- import ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correction:
    """One validated row: ids are the taxonomy's current ids; empty means not labelled."""

    id: str
    text: str
    language: str
    sentiment: str
    failure_types: str
    response: str
    labeller: str = ""
    notes: str = ""

    def labels(self) -> tuple[str, ...]:
        return tuple(getattr(self, c) for c in LABEL_COLUMNS)


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (first line, row) of a CSV; a BOM (Excel) is accepted."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = []
            line = 2
            for row in reader:
                rows.append((line, {k: (v or "") for k, v in row.items() if k is not None}))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise CorrectionsInvalid(path, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]
                                 ) from exc
    except csv.Error as exc:
        raise CorrectionsInvalid(path, [f"malformed CSV: {exc}"]) from exc
    return header, rows


def label_studio_rows(tasks: Any, path: Path | str
                      ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A Label Studio JSON export as (header, rows) for `validate`: one row per task with an
    annotation (its newest), numbered by task. Tasks nobody annotated were not reviewed and are
    left out; the pre-filled predictions are never taken as labels."""
    if not isinstance(tasks, list):
        raise CorrectionsInvalid(path, ["a Label Studio export is a JSON list of tasks"])
    rows = []
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise CorrectionsInvalid(path, [f"task {number}: no `data` object"])
        done = [a for a in task.get("annotations") or []
                if isinstance(a, dict) and not a.get("was_cancelled")]
        if not done:
            continue
        newest = max(done, key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
        chosen = {r.get("from_name"): (r.get("value") or {}).get("choices") or []
                  for r in newest.get("result") or [] if isinstance(r, dict)}
        data = task["data"]
        rows.append((number, {
            "id": str(data.get("item_id") or ""), "text": str(data.get("text") or ""),
            "language": str(data.get("language") or ""),
            "sentiment": ";".join(chosen.get("sentiment", [])),
            "failure_types": ";".join(chosen.get("failure_types", [])),
            "response": ";".join(chosen.get("response", [])), "notes": ""}))
    return list(GOLD_COLUMNS), rows


def read_corrections(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """An edited export: CSV, or a Label Studio JSON export (`.json`)."""
    if path.suffix.lower() != ".json":
        return read_rows(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorrectionsInvalid(path, [f"not a JSON file: {exc}"]) from exc
    return label_studio_rows(tasks, path)


def validate(header: Sequence[str], rows: Sequence[tuple[int, Mapping[str, str]]],
             taxonomy: Taxonomy, path: Path | str, unit: str = "line") -> list[Correction]:
    """Every row checked against the taxonomy; one error naming every bad line, or the rows
    with aliases mapped to current ids. Error messages never quote a row's text."""
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CorrectionsInvalid(path, [f"missing column(s) {', '.join(missing)} (the header "
                                        f"needs {', '.join(REQUIRED_COLUMNS)})"])
    if not rows:
        raise CorrectionsInvalid(path, ["no rows (or, from Label Studio, no annotated task)"])
    problems: list[str] = []
    seen: dict[str, int] = {}
    out = []
    for line, row in rows:
        errors: list[str] = []
        item_id = row.get("id", "").strip()
        if not item_id:
            errors.append("empty id")
        elif item_id in seen:
            errors.append(f"id {item_id!r} repeats {unit} {seen[item_id]}")
        else:
            seen[item_id] = line
        # Exported texts are redacted already; a pasted one is redacted before it is kept.
        text = redact(row.get("text", "").strip())
        if not text:
            errors.append("empty text")
        language = row.get("language", "").strip()
        if language and not _LANGUAGE.match(language):
            errors.append(f"language {language!r} is not a language code")
        sentiment = row.get("sentiment", "").strip()
        if sentiment and sentiment not in taxonomy.sentiments:
            errors.append(f"sentiment {sentiment!r} is not one of "
                          f"{', '.join(taxonomy.sentiments)}")
        failures = _label_ids(row.get("failure_types", ""), "failure type",
                              list(taxonomy.failure_types), taxonomy.canonical, errors)
        responses = _label_ids(row.get("response", ""), "response", taxonomy.response_ids,
                               lambda r: r, errors)
        if not errors and not (sentiment or failures or responses):
            errors.append("no label given (sentiment, failure_types and response are all empty)")
        if errors:
            problems.append(f"{unit} {line}: {', '.join(errors)}")
            continue
        out.append(Correction(item_id, text, language, sentiment, failures, responses,
                              row.get("labeller", "").strip(), row.get("notes", "").strip()))
    if problems:
        raise CorrectionsInvalid(path, problems)
    return out


def _label_ids(value: str, what: str, known: Sequence[str], canonical: Any,
               errors: list[str]) -> str:
    """`;`-separated ids as current ids in taxonomy order; `none`; or empty (not labelled)."""
    parts = [p.strip() for p in value.split(";") if p.strip()]
    if not parts:
        return ""
    if NONE in parts:
        if len(parts) > 1:
            errors.append(f"{what}s: 'none' together with other ids")
        return NONE
    mapped = {canonical(p) for p in parts}
    unknown = sorted(p for p in parts if canonical(p) not in known)
    if unknown:
        errors.append(f"unknown {what}(s) {', '.join(unknown)} (the taxonomy has "
                      f"{', '.join(known)})")
        return ""
    return ";".join(_ordered(mapped, known))


@dataclass
class ImportCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


def history_path(corrections_path: Path) -> Path:
    """Where every stored version goes: `<name>_history.csv` next to the corrections file."""
    return corrections_path.with_name(f"{corrections_path.stem}_history{corrections_path.suffix}")


def load_stored(path: Path) -> dict[str, dict[str, str]]:
    """The corrections file, newest correction per id; an absent file is no corrections."""
    if not path.is_file():
        return {}
    header, rows = read_rows(path)
    missing = [c for c in CORRECTION_COLUMNS if c not in header]
    if missing:
        raise CorrectionsInvalid(path, [f"stored corrections lack column(s) "
                                        f"{', '.join(missing)}"])
    return {row["id"]: row for _, row in rows}


def merge(stored: Mapping[str, Mapping[str, str]], incoming: Sequence[Correction],
          labeller: str, labelled_at: datetime, source_file: str
          ) -> tuple[dict[str, dict[str, str]], list[dict[str, str]], ImportCounts]:
    """Upsert by id, the newest correction winning: (all corrections, the versions that are
    new or changed, for the history file, counts). A row whose labels equal the stored ones
    is unchanged and keeps its first labeller and time."""
    merged = {k: dict(v) for k, v in stored.items()}
    added: list[dict[str, str]] = []
    counts = ImportCounts()
    stamp = labelled_at.replace(microsecond=0).isoformat()
    for correction in incoming:
        row = {**{k: v for k, v in asdict(correction).items()},
               "labeller": correction.labeller or labeller, "labelled_at": stamp,
               "source_file": source_file}
        before = merged.get(correction.id)
        if before is not None and tuple(before.get(c, "") for c in LABEL_COLUMNS) == \
                correction.labels():
            counts.unchanged += 1
            continue
        if before is None:
            counts.new += 1
        else:
            counts.changed += 1
        merged[correction.id] = row
        added.append(row)
    return merged, added, counts


def store_corrections(incoming: Sequence[Correction], path: Path, labeller: str,
                      labelled_at: datetime, source_file: str) -> ImportCounts:
    """Upsert into the corrections file; new and changed versions are appended to the history
    first, so a crash between the two writes loses nothing."""
    stored = load_stored(path)
    merged, added, counts = merge(stored, incoming, labeller, labelled_at, source_file)
    if not added:
        return counts
    history = history_path(path)
    history.parent.mkdir(parents=True, exist_ok=True)
    fresh = not history.is_file() or history.stat().st_size == 0
    with history.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CORRECTION_COLUMNS, extrasaction="ignore")
        if fresh:
            writer.writeheader()
        writer.writerows(added)
        handle.flush()
        os.fsync(handle.fileno())
    write_csv(sorted(merged.values(), key=lambda r: r["id"]), CORRECTION_COLUMNS, path)
    return counts
