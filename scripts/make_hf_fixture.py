#!/usr/bin/python3
"""make_hf_fixture.py - small Hugging Face-layout model folders for tests.

Builds, from PyTorch modules named exactly as Hugging Face's BertModel /
RobertaModel / ElectraModel name their parameters, four folders under
tests/fixtures/hf/ (run from the repo root with torch installed):

  bert_f32/            BertForSequenceClassification-like: "bert." prefix,
                       pooler, classifier (2 labels), plus an MLM head (cls.*)
                       and the position_ids buffer that convert must drop;
                       F32; vocab.txt + tokenizer_config.json
  roberta_f16/         RobertaModel saved without prefix ("embeddings...."),
                       pooler, classifier.dense/out_proj (3 labels), lm_head.*
                       (dropped); F16 with special values (subnormals, -0,
                       65504) in one tensor; vocab.json + merges.txt
  bert_bf16_sharded/   old TF-style names (LayerNorm.gamma/beta), no pooler,
                       BF16, two shards + model.safetensors.index.json;
                       tokenizer.json
  electra_f32/         model_type electra ("electra." prefix),
                       discriminator_predictions.* (dropped); vocab.txt

config.json is the real one of ../shared/data/tokenizers/{bert-base-uncased,
roberta-base} with the sizes edited (vocab_size stays the real vocabulary
size; hidden sizes are tiny to keep each folder around 1-2 MB). The electra
config is bert-base-uncased's with model_type electra and embedding_size.

tests/fixtures/hf/expected.txt lists, per fixture, every tensor idim must
write: idim name, shape, and the FNV-1a 64-bit hash of its float32
little-endian bytes as torch computes them (t.float() widens F16/BF16
exactly), plus the bits of the first value. Lines starting with "bits"
give every f32 bit pattern of one small tensor (the special values).

    /usr/bin/python3 scripts/make_hf_fixture.py [--shared ../shared]
"""
import argparse
import json
import os
import shutil
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pt2safetensors import save_file  # noqa: E402

OUT = "tests/fixtures/hf"


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Layer(nn.Module):
    def __init__(self, C, F, eps):
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(C, C)
        self.attention.self.key = nn.Linear(C, C)
        self.attention.self.value = nn.Linear(C, C)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(C, C)
        self.attention.output.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(C, F)
        self.output = nn.Module()
        self.output.dense = nn.Linear(F, C)
        self.output.LayerNorm = nn.LayerNorm(C, eps=eps)


class Encoder(nn.Module):
    """BertModel's parameter names: embeddings.*, encoder.layer.{i}.*, pooler.*"""

    def __init__(self, cfg, pooler):
        super().__init__()
        C, F = cfg["hidden_size"], cfg["intermediate_size"]
        eps = cfg["layer_norm_eps"]
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(cfg["vocab_size"], C)
        self.embeddings.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], C)
        self.embeddings.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], C)
        self.embeddings.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            [Layer(C, F, eps) for _ in range(cfg["num_hidden_layers"])])
        if pooler:
            self.pooler = nn.Module()
            self.pooler.dense = nn.Linear(C, C)
        with torch.no_grad():  # non-trivial values everywhere (LN weights too)
            for p in self.parameters():
                p.copy_(torch.randn_like(p) * 0.05)


def edited_config(src, **sizes):
    cfg = json.load(open(src))
    cfg.update(sizes)
    return cfg


def write_folder(name, cfg, sd, tok_files, shared_tok, dtype, shards=1):
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for t in tok_files:
        shutil.copy(os.path.join(shared_tok, t), os.path.join(d, t))
    sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    if shards == 1:
        save_file(sd, os.path.join(d, "model.safetensors"), {"format": "pt"})
    else:
        keys = list(sd)
        half = len(keys) // 2
        parts = [keys[:half], keys[half:]]
        wm, total = {}, 0
        for i, part in enumerate(parts):
            fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            save_file({k: sd[k] for k in part}, os.path.join(d, fn), {"format": "pt"})
            for k in part:
                wm[k] = fn
                total += sd[k].numel() * sd[k].element_size()
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)
            f.write("\n")
    return sd


def expected_lines(name, sd, mapping, bits_of=None):
    """mapping: list of (idim name, checkpoint name) in table order."""
    out = [f"fixture {name} {len(mapping)}"]
    for dst, src in mapping:
        t = sd[src].float().contiguous()
        b = t.numpy().astype("<f4").tobytes()
        first = int.from_bytes(b[:4], "little")
        shape = "x".join(str(s) for s in t.shape)
        out.append(f"tensor {dst} {shape} {fnv1a64(b):016x} {first:08x}")
    if bits_of:
        dst, src = bits_of
        b = sd[src].float().contiguous().numpy().astype("<f4").tobytes()
        words = [int.from_bytes(b[i:i + 4], "little") for i in range(0, len(b), 4)]
        out.append(f"bits {dst} " + " ".join(f"{w:08x}" for w in words))
    return out


def table(prefix, L, pooler, head):
    """ARCH_TABLE_FILE order (include/arch.h) with the idim prefix."""
    n = [f"{prefix}.embeddings.{x}" for x in (
        "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
        "LayerNorm.weight", "LayerNorm.bias")]
    for i in range(L):
        p = f"{prefix}.encoder.layer.{i}."
        for k in ("query", "key", "value"):
            n += [p + f"attention.self.{k}.weight", p + f"attention.self.{k}.bias"]
        n += [p + x for x in (
            "attention.output.dense.weight", "attention.output.dense.bias",
            "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
            "intermediate.dense.weight", "intermediate.dense.bias",
            "output.dense.weight", "output.dense.bias",
            "output.LayerNorm.weight", "output.LayerNorm.bias")]
    if pooler:
        n += [f"{prefix}.pooler.dense.weight", f"{prefix}.pooler.dense.bias"]
    n += head
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    a = ap.parse_args()
    btok = os.path.join(a.shared, "data/tokenizers/bert-base-uncased")
    rtok = os.path.join(a.shared, "data/tokenizers/roberta-base")
    torch.manual_seed(20260101)
    os.makedirs(OUT, exist_ok=True)
    lines = ["# written by scripts/make_hf_fixture.py; do not edit",
             "# fixture NAME N_TENSORS / tensor IDIM_NAME SHAPE FNV1A64(f32 LE bytes) FIRST_BITS"
             " / bits IDIM_NAME WORD..."]

    # 1. BERT, F32, "bert." prefix, pooler, 2-label classifier, MLM head + buffer.
    cfg = edited_config(os.path.join(btok, "config.json"), hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16,
                        max_position_embeddings=64, architectures=["BertForSequenceClassification"])
    m = Encoder(cfg, pooler=True)
    sd = {"bert." + k: v for k, v in m.state_dict().items()}
    sd["bert.embeddings.position_ids"] = torch.arange(64, dtype=torch.int64).unsqueeze(0)
    sd["classifier.weight"] = torch.randn(2, 8) * 0.05
    sd["classifier.bias"] = torch.randn(2) * 0.05
    sd["cls.predictions.bias"] = torch.randn(cfg["vocab_size"]) * 0.01
    sd["cls.predictions.transform.dense.weight"] = torch.randn(8, 8)
    sd = write_folder("bert_f32", cfg, sd, ["vocab.txt", "tokenizer_config.json"], btok,
                      torch.float32)
    names = table("bert", 2, True, ["classifier.weight", "classifier.bias"])
    mp = [(n, n) for n in names]
    lines += expected_lines("bert_f32", sd, mp)

    # 2. RoBERTa, F16, no prefix, pooler, 3-label head, lm_head, special values.
    cfg = edited_config(os.path.join(rtok, "config.json"), hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16,
                        max_position_embeddings=66,
                        architectures=["RobertaForSequenceClassification"])
    m = Encoder(cfg, pooler=True)
    sd = dict(m.state_dict())
    special = torch.tensor([0.0, -0.0, 5.960464477539063e-08, -5.960464477539063e-08,
                            6.097555160522461e-05, 65504.0, -65504.0, 0.333251953125],
                           dtype=torch.float32)
    sd["embeddings.LayerNorm.bias"] = special.clone()
    sd["classifier.dense.weight"] = torch.randn(8, 8) * 0.05
    sd["classifier.dense.bias"] = torch.randn(8) * 0.05
    sd["classifier.out_proj.weight"] = torch.randn(3, 8) * 0.05
    sd["classifier.out_proj.bias"] = torch.randn(3) * 0.05
    sd["lm_head.dense.weight"] = torch.randn(8, 8)
    sd["lm_head.bias"] = torch.randn(64)
    sd = write_folder("roberta_f16", cfg, sd, ["vocab.json", "merges.txt",
                                               "tokenizer_config.json"], rtok, torch.float16)
    head = ["classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
            "classifier.out_proj.bias"]
    names = table("roberta", 2, True, head)
    mp = [(n, n if n.startswith("classifier.") else n[len("roberta."):]) for n in names]
    lines += expected_lines("roberta_f16", sd, mp,
                            bits_of=("roberta.embeddings.LayerNorm.bias",
                                     "embeddings.LayerNorm.bias"))

    # 3. BERT, BF16, sharded, old gamma/beta names, no pooler, no head.
    cfg = edited_config(os.path.join(btok, "config.json"), hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16, max_position_embeddings=32,
                        architectures=["BertModel"])
    m = Encoder(cfg, pooler=False)
    sd = {}
    for k, v in m.state_dict().items():
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                     "LayerNorm.beta")
        sd["bert." + k] = v
    sd["bert.embeddings.LayerNorm.beta"] = torch.tensor(
        [1e-40, -1e-39, 3.0e38, -1.5, 2.0 ** -126, 0.1, -0.0, 7.0])
    sd = write_folder("bert_bf16_sharded", cfg, sd, ["tokenizer.json", "tokenizer_config.json"],
                      btok, torch.bfloat16, shards=2)
    names = table("bert", 2, False, [])

    def old(n):
        return n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                        "LayerNorm.beta")
    mp = [(n, old(n)) for n in names]
    lines += expected_lines("bert_bf16_sharded", sd, mp,
                            bits_of=("bert.embeddings.LayerNorm.bias",
                                     "bert.embeddings.LayerNorm.beta"))

    # 4. ELECTRA discriminator, F32, "electra." prefix, no pooler.
    cfg = edited_config(os.path.join(btok, "config.json"), hidden_size=4, num_hidden_layers=1,
                        num_attention_heads=1, intermediate_size=8, max_position_embeddings=16,
                        embedding_size=4, model_type="electra",
                        architectures=["ElectraForPreTraining"])
    m = Encoder(cfg, pooler=False)
    sd = {"electra." + k: v for k, v in m.state_dict().items()}
    sd["discriminator_predictions.dense.weight"] = torch.randn(4, 4)
    sd["discriminator_predictions.dense_prediction.weight"] = torch.randn(1, 4)
    sd = write_folder("electra_f32", cfg, sd, ["vocab.txt", "tokenizer_config.json"], btok,
                      torch.float32)
    names = table("bert", 1, False, [])
    mp = [(n, "electra." + n[len("bert."):]) for n in names]
    lines += expected_lines("electra_f32", sd, mp)

    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}/{{bert_f32,roberta_f16,bert_bf16_sharded,electra_f32}} and expected.txt")


if __name__ == "__main__":
    main()
