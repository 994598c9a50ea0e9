"""Texts per second: the project's inference path vs a plain transformers pipeline, same run.

    .venv/bin/python bench/classify_speed.py [--model DIR] [--tweets 2000] [--long 500] [--record]

Inputs are real: airline tweets, and long reviews (Chinese hotel reviews and CFPB complaint
narratives, the longest of each). The plain pipeline is `transformers.pipeline(
"text-classification")` over the same fine-tuned encoder (fp32 torch, its sentiment head loaded
into a sequence-classification model), with its default batch size of 1, as a user would start.
Both sides use 2 threads. Prints the figures and the ratio, and writes them as JSON; with
`--record`, also into the model's `metrics.json` and model card.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from mining.classify import card  # noqa: E402
from mining.classify.model import FeedbackClassifier, default_model_path  # noqa: E402


def real_texts(shared: Path, tweets: int, long: int) -> dict[str, list[str]]:
    tw = pd.read_csv(shared / "airline_tweets" / "tweets.csv")["text"].astype(str).tolist()
    hotel = pd.read_csv(shared / "chnsenticorp_hotel" / "reviews.csv")["review"].dropna()
    cfpb = pd.read_csv(shared / "cfpb_complaints" / "complaints_sample.csv")[
        "Consumer complaint narrative"].dropna()
    longest = sorted(hotel.astype(str).tolist(), key=len, reverse=True)[: long // 2]
    longest += sorted(cfpb.astype(str).tolist(), key=len, reverse=True)[: long - len(longest)]
    return {"tweets": tw[:tweets], "long_reviews": longest}


def plain_pipeline_model(model_dir: Path, out: Path) -> Path:
    """A sequence-classification model over the same encoder, for the plain pipeline.

    With the fp32 training checkpoint (`checkpoint/model.pt`, not committed) it carries the
    fine-tuned weights and sentiment head. From a fresh clone it has the same architecture and
    vocabulary with seeded random weights: the same compute, so the same speed.
    """
    from tokenizers import Tokenizer
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    vocab = Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab_size()
    config = XLMRobertaConfig(vocab_size=vocab, hidden_size=384, num_hidden_layers=12,
                              num_attention_heads=12, intermediate_size=1536,
                              max_position_embeddings=514, type_vocab_size=2, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2, num_labels=3)
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config)
    checkpoint = model_dir / "checkpoint" / "model.pt"
    if checkpoint.is_file():
        state = torch.load(checkpoint)
        encoder = {k.removeprefix("encoder."): v for k, v in state.items()
                   if k.startswith("encoder.")}
        model.roberta.load_state_dict(encoder, strict=False)
        model.classifier.out_proj.weight.data = state["sentiment.weight"]
        model.classifier.out_proj.bias.data = state["sentiment.bias"]
        print("plain pipeline: the fine-tuned fp32 checkpoint")
    else:
        print("plain pipeline: same architecture, random weights (no fp32 checkpoint here)")
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (out / name).write_bytes((model_dir / name).read_bytes())
    return out


def timed(fn, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    fn(texts[:16])  # warm-up
    started = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--long", type=int, default=500)
    parser.add_argument("--json", type=Path, default=Path("artifacts/classify_speed.json"))
    parser.add_argument("--record", action="store_true",
                        help="write the figures into the model's metrics.json and card")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model_dir = args.model or default_model_path(Path("models"))
    classifier = FeedbackClassifier.load(model_dir, threads=2)
    texts = real_texts(args.shared, args.tweets, args.long)
    from transformers import pipeline

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = pipeline("text-classification",
                         model=str(plain_pipeline_model(model_dir, Path(tmp))), device="cpu")
        for name, batch in texts.items():
            ours = timed(lambda t: classifier.predict(t, batch_size=32), batch)
            theirs = timed(lambda t: plain(t, truncation=True, max_length=128), batch)
            results[name] = {"texts": len(batch), "project_texts_per_s": round(ours, 1),
                             "plain_pipeline_texts_per_s": round(theirs, 1),
                             "ratio": round(ours / theirs, 2)}
            print(f"{name:13s} n={len(batch):5d}  project {ours:7.1f}/s   plain pipeline "
                  f"{theirs:6.1f}/s   ratio {ours / theirs:5.2f}x")
    bench = {"model": str(model_dir), "date": time.strftime("%Y-%m-%d"),
             "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                        f"{platform.python_implementation()} {platform.python_version()}",
             "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(bench, indent=2))
    if args.record:
        metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
        card.write(model_dir, {**metrics, "speed_benchmark": bench})
        print(f"recorded in {model_dir / 'metrics.json'} and the model card")


if __name__ == "__main__":
    main()
