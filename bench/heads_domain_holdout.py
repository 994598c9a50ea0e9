"""How head recipes carry to a domain they never saw: leave one (domain, language) out.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/heads_domain_holdout.py [--kind response|failure]
        [--groups hotel/en,banking/en] [--recipes enc_c0.05,enc_c0.25,tfidf,late,hybrid]
        [--json artifacts/heads_domain_holdout.json]

For each group of the labelled corpus (e.g. `hotel/en`), the heads are fit on every training
text except that group's, their thresholds tuned on the dev texts of the other groups, and they
are scored on the group's own train and dev texts (never the test part). Recipes:
- `enc_cX`: class-balanced logistic regression with C = X on the default model's pooled
  features (the shipped recipe, `heads_c` / `response_heads_c` in `config/train.yaml`);
- `tfidf`: the TF-IDF + LR baseline's features alone (`mining.classify.lexical`);
- `late`: the mean of the `enc_c0.25` and `tfidf` probabilities;
- `hybrid`: one regression on [0.5 x pooled features, TF-IDF] (C = 4): the shipped response
  heads since 2026-12-01 (`lexical_responses`).
Features come from the feature cache (`.cache/features/`); a cold cache encodes every text once.
Response thresholds keep dev precision >= 0.8, failure thresholds take the best dev F1, as in
`mining train`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from mining.classify.lexical import LexicalFeatures  # noqa: E402
from mining.classify.model import (  # noqa: E402
    LABELS_FILE,
    FeedbackClassifier,
    LabelSpace,
    default_model_path,
)
from mining.classify.train import (  # noqa: E402
    TrainConfig,
    _counts,
    best_threshold,
    build_datasets,
    f_beta,
    feature_cache,
    targets,
)

GROUPS = ("hotel/en", "hotel/zh", "restaurant/en", "restaurant/zh", "ecommerce/en",
          "ecommerce/zh", "banking/en", "airline/en")


def scores(x_train, y, mask, x_tune, x_held, c: float) -> tuple[np.ndarray, np.ndarray]:
    tune, held = np.zeros((x_tune.shape[0], y.shape[1])), np.zeros((x_held.shape[0], y.shape[1]))
    for j in range(y.shape[1]):
        rows = mask[:, j] > 0
        if len(set(y[rows, j].tolist())) < 2:
            continue
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced",
                                   random_state=13).fit(x_train[rows], y[rows, j])
        tune[:, j] = model.predict_proba(x_tune)[:, 1]
        held[:, j] = model.predict_proba(x_held)[:, 1]
    return tune, held


def judge(names, kind, tune_scores, tune_y, tune_mask, held_scores, held_y, held_mask) -> dict:
    tp_all = fp_all = fn_all = 0.0
    f1: dict[str, float] = {}
    for j, name in enumerate(names):
        rt, rh = tune_mask[:, j] > 0, held_mask[:, j] > 0
        if (held_y[rh, j] == 1).sum() < 5:  # too few held-out positives to score
            continue
        threshold = best_threshold(tune_scores[rt, j], tune_y[rt, j] == 1,
                                   min_precision=0.8 if kind == "response" else 0.0)
        tp, fp, fn = _counts(held_scores[rh, j], held_y[rh, j] == 1, threshold)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        f1[name] = round(f_beta(tp, fp, fn), 3)
    named = [v for k, v in f1.items() if k != "other"]
    return {"precision": round(tp_all / max(tp_all + fp_all, 1), 3),
            "recall": round(tp_all / max(tp_all + fn_all, 1), 3),
            "macro_f1": round(float(np.mean(named)), 3) if named else None, "f1": f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("response", "failure"), default="response")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--recipes", default="enc_c0.05,enc_c0.25,enc_c1,tfidf,late,hybrid")
    parser.add_argument("--config", type=Path, default=Path("config/train.yaml"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    recipes = args.recipes.split(",")
    cfg = TrainConfig.load(args.config)
    ids = cfg.label_ids()
    source = default_model_path(cfg.models_dir)
    classifier = FeedbackClassifier.load(source, cfg.threads)
    cache = feature_cache(cfg, source, LabelSpace.load(source / LABELS_FILE))
    train, dev, _, _ = build_datasets(cfg)
    dev_all = [e for examples in dev.values() for e in examples]
    corpus = pd.read_csv(cfg.data.corpus)
    group_of = dict(zip(corpus["text"], corpus["domain"] + "/" + corpus["language"], strict=True))
    names = ids.failure_types if args.kind == "failure" else ids.responses

    def columns(examples):
        y = targets(examples, ids)
        return y[args.kind].numpy(), y[args.kind + "_mask"].numpy()

    results: dict[str, dict] = {}
    for group in args.groups.split(","):
        fit_on = [e for e in train if group_of.get(e.text) != group]
        held = [e for e in train + dev_all
                if group_of.get(e.text) == group and e.dataset.startswith("corpus")]
        tune = [e for e in dev_all if group_of.get(e.text) != group]
        parts = {"fit": fit_on, "tune": tune, "held": held}
        pooled = {k: cache.features([e.text for e in v], classifier.pooled)
                  for k, v in parts.items()}
        (y, mask), (ty, tmask), (hy, hmask) = columns(fit_on), columns(tune), columns(held)
        lexical: dict[str, object] = {}
        if {"tfidf", "late", "hybrid"} & set(recipes):
            vectoriser, lexical["fit"] = LexicalFeatures.fit_transform([e.text for e in fit_on])
            for k in ("tune", "held"):
                lexical[k] = vectoriser.transform([e.text for e in parts[k]])
        got: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for recipe in recipes:
            if recipe.startswith("enc_c"):
                c = float(recipe.removeprefix("enc_c"))
                got[recipe] = scores(pooled["fit"], y, mask, pooled["tune"], pooled["held"], c)
            elif recipe == "tfidf" or (recipe == "late" and "tfidf" not in got):
                got["tfidf"] = scores(lexical["fit"], y, mask, lexical["tune"], lexical["held"],
                                      4.0)
            if recipe == "late":
                encoder = got.get("enc_c0.25") or scores(pooled["fit"], y, mask, pooled["tune"],
                                                         pooled["held"], 0.25)
                got["late"] = (0.5 * encoder[0] + 0.5 * got["tfidf"][0],
                               0.5 * encoder[1] + 0.5 * got["tfidf"][1])
            if recipe == "hybrid":
                both = {k: sparse.hstack([sparse.csr_matrix(pooled[k] * 0.5),
                                          lexical[k]]).tocsr() for k in parts}
                got["hybrid"] = scores(both["fit"], y, mask, both["tune"], both["held"], 4.0)
        results[group] = {"n": len(held)}
        for recipe in recipes:
            figure = judge(names, args.kind, got[recipe][0], ty, tmask, got[recipe][1], hy,
                           hmask)
            results[group][recipe] = figure
            print(f"{group:14} n={len(held):5} {recipe:10} P {figure['precision']:.3f} "
                  f"R {figure['recall']:.3f} macro-F1 {figure['macro_f1']}", flush=True)
    print(f"\nmean macro-F1 over {len(results)} held-out groups ({args.kind}):")
    for recipe in recipes:
        values = [r[recipe]["macro_f1"] for r in results.values()
                  if r[recipe]["macro_f1"] is not None]
        wins = sum(1 for r in results.values() if r[recipe]["macro_f1"] is not None and
                   r[recipe]["macro_f1"] >= max(r[x]["macro_f1"] or 0 for x in recipes))
        print(f"  {recipe:10} {np.mean(values):.3f} (best in {wins} of {len(results)})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"kind": args.kind, "model": classifier.version,
                                         "groups": results}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
