"""Texts per second: the project's inference path vs a plain transformers pipeline, same run.

    .venv/bin/python bench/classify_speed.py [--model DIR] [--tweets 2000] [--long 500] [--record]

Inputs are real: airline tweets, and long reviews (Chinese hotel reviews and CFPB complaint
narratives, the longest of each). Three paths over the same network, 2 threads each:
- project: the shipped int8 ONNX model, length-sorted batches of 32 (`predict`);
- plain pipeline: `transformers.pipeline("text-classification")` over the same encoder (fp32
  torch, its sentiment head in a sequence-classification model), default batch size 1, as a
  user would start;
- batched fp32 torch: the same fp32 encoder, length-sorted batches of 32, so the ratio against it
  shows what the engineering adds beyond batching.
All three cut a text to the model's max_length tokens. Prints the figures, the ratios and the
CPU's vector flags (they change the result), and writes them as JSON; with `--record`, also into
the model's `metrics.json` and model card.
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
from mining.machine import cpu_flags, describe_flags  # noqa: E402


def real_texts(shared: Path, tweets: int, long: int) -> dict[str, list[str]]:
    tw = pd.read_csv(shared / "airline_tweets" / "tweets.csv")["text"].astype(str).tolist()
    hotel = pd.read_csv(shared / "chnsenticorp_hotel" / "reviews.csv")["review"].dropna()
    cfpb = pd.read_csv(shared / "cfpb_complaints" / "complaints_sample.csv")[
        "Consumer complaint narrative"].dropna()
    longest = sorted(hotel.astype(str).tolist(), key=len, reverse=True)[: long // 2]
    longest += sorted(cfpb.astype(str).tolist(), key=len, reverse=True)[: long - len(longest)]
    return {"tweets": tw[:tweets], "long_reviews": longest}


def encoder_layers(model_dir: Path) -> int:
    """The shipped encoder's depth (a shallower student keeps the base's first layers)."""
    metrics = model_dir / "metrics.json"
    if metrics.is_file():
        layers = json.loads(metrics.read_text(encoding="utf-8"))["config"].get("layers")
        if layers:
            return int(layers)
    return 12


def plain_pipeline_model(model_dir: Path, out: Path) -> tuple[Path, bool]:
    """A sequence-classification model over the same encoder, for the plain pipeline.

    With the fp32 training checkpoint (`checkpoint/model.pt`, not committed) it carries the
    fine-tuned weights and sentiment head. From a fresh clone it has the same architecture and
    vocabulary with seeded random weights: the same compute, so the same speed. Returns the
    model folder and whether it holds the fine-tuned weights.
    """
    from tokenizers import Tokenizer
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    vocab = Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab_size()
    config = XLMRobertaConfig(vocab_size=vocab, hidden_size=384,
                              num_hidden_layers=encoder_layers(model_dir),
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
    return out, checkpoint.is_file()


def batched_torch(model_dir: Path, plain_dir: Path):  # type: ignore[no-untyped-def]
    """The fp32 encoder of the plain pipeline, run like the project path: the model's own
    tokenisation, length-sorted batches of 32, mean pooling."""
    from transformers import AutoModel

    from mining.classify.model import LabelSpace, TextEncoder, length_sorted_batches

    encoder = AutoModel.from_pretrained(plain_dir).eval()
    labels = LabelSpace.load(model_dir / "labels.json")
    tokens = TextEncoder.for_labels(model_dir, labels)

    def run(texts: list[str]) -> None:
        ids = tokens.encode(texts)
        with torch.inference_mode():
            for batch in length_sorted_batches([len(x) for x in ids], 32):
                input_ids, mask = tokens.pad([ids[i] for i in batch])
                hidden = encoder(input_ids=torch.from_numpy(input_ids),
                                 attention_mask=torch.from_numpy(mask)).last_hidden_state
                weights = torch.from_numpy(mask).unsqueeze(-1).float()
                (hidden * weights).sum(1) / weights.sum(1)

    return run


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

    flags = cpu_flags()
    print(f"CPU flags: {describe_flags(flags)}")
    max_length = classifier.labels.max_length
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir, fine_tuned = plain_pipeline_model(model_dir, Path(tmp))
        plain = pipeline("text-classification", model=str(plain_dir), device="cpu")
        torch_batched = batched_torch(model_dir, plain_dir)
        for name, batch in texts.items():
            ours = timed(lambda t: classifier.predict(t, batch_size=32), batch)
            theirs = timed(lambda t: plain(t, truncation=True, max_length=max_length), batch)
            batched = timed(torch_batched, batch)
            results[name] = {"texts": len(batch), "project_texts_per_s": round(ours, 1),
                             "plain_pipeline_texts_per_s": round(theirs, 1),
                             "batched_fp32_torch_texts_per_s": round(batched, 1),
                             "ratio": round(ours / theirs, 2),
                             "ratio_vs_batched_torch": round(ours / batched, 2)}
            print(f"{name:13s} n={len(batch):5d}  project {ours:7.1f}/s   plain pipeline "
                  f"{theirs:6.1f}/s   batched fp32 torch {batched:6.1f}/s   ratio "
                  f"{ours / theirs:5.2f}x (vs batched torch {ours / batched:4.2f}x)")
    bench = {"model": str(model_dir), "date": time.strftime("%Y-%m-%d"),
             "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                        f"{platform.python_implementation()} {platform.python_version()}",
             "cpu_flags": flags, "plain_weights": "fine-tuned" if fine_tuned else "random",
             "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(bench, indent=2))
    if args.record:
        metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
        card.write(model_dir, {**metrics, "speed_benchmark": bench})
        print(f"recorded in {model_dir / 'metrics.json'} and the model card")


if __name__ == "__main__":
    main()
