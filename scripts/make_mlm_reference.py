#!/usr/bin/python3
"""make_mlm_reference.py - golden fixtures for the masked-LM head (tests/test_mlm.c).

An independent implementation of Hugging Face's BertForMaskedLM and
RobertaForMaskedLM (BertOnlyMLMHead / RobertaLMHead: dense, GELU (erf),
LayerNorm, decoder tied to the word embeddings plus a bias) on the encoder of
make_reference.py, in float64 from float32 weights: the loss (mean
cross-entropy over the masked positions, labels -100 elsewhere, as HF) and the
autograd gradient of every encoder and head tensor, for tiny random models on
a padded batch. Dropout is off.

Run with Debian's torch:  /usr/bin/python3 scripts/make_mlm_reference.py
Writes tests/fixtures/golden/{bert,roberta}_mlm.bin, little-endian:
  "IDIMMLM1"
  int32[13]  family(1 bert, 2 roberta), L, C, NH, F, V, P, TV, pad_id, B, T, M, n_tensors
  float32    ln_eps
  int32      ids[B*T], type_ids[B*T], mask[B*T] (ids hold the masked input)
  int32      pos[M] (row b*T+t of each masked token), labels[M] (original ids)
  n_tensors x { int32 name_len, name bytes, int32 n_elem, float32 data[n_elem] }
             (the encoder tensors of arch.h's table, then the 5 MLM head tensors)
  float32    loss, accuracy (fraction of masked rows whose argmax is the label)
  n_tensors x float32 grad[n_elem]  (same order)
"""
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import DT, OUT, encode, random_weights, tensor_table  # noqa: E402


def head_table(fam, C, V):
    if fam == 1:
        p = "cls.predictions."
        return [(p + "transform.dense.weight", (C, C)), (p + "transform.dense.bias", (C,)),
                (p + "transform.LayerNorm.weight", (C,)), (p + "transform.LayerNorm.bias", (C,)),
                (p + "bias", (V,))]
    return [("lm_head.dense.weight", (C, C)), ("lm_head.dense.bias", (C,)),
            ("lm_head.layer_norm.weight", (C,)), ("lm_head.layer_norm.bias", (C,)),
            ("lm_head.bias", (V,))]


def mlm_logits(fam, W, x, C, eps, V):
    ht = [n for n, _ in head_table(fam, C, V)]
    h = F.linear(x, W[ht[0]], W[ht[1]])
    h = 0.5 * h * (1.0 + torch.erf(h / 2.0 ** 0.5))
    h = F.layer_norm(h, (C,), W[ht[2]], W[ht[3]], eps)
    p = "bert" if fam == 1 else "roberta"
    return F.linear(h, W[f"{p}.embeddings.word_embeddings.weight"], W[ht[4]])


def make(name, fam, seed):
    g = torch.Generator().manual_seed(seed)
    L, C, NH, Fd, V = 2, 16, 2, 32, 40
    if fam == 1:
        P, TV, pad, eps, cls, mask_id = 12, 2, 0, 1e-12, 2, 4
    else:
        P, TV, pad, eps, cls, mask_id = 16, 1, 1, 1e-5, 0, 3
    B, T = 3, 7
    lengths = [7, 6, 4]
    # encoder tensors only (the classification head is not part of a masked LM)
    table = [t for t in tensor_table(fam, L, C, Fd, V, P, TV, 2)
             if not t[0].startswith("classifier") and ".pooler." not in t[0]]
    table += head_table(fam, C, V)
    W32 = random_weights(table, g)
    ids = torch.full((B, T), pad, dtype=torch.long)
    tt = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(5, V, (n,), generator=g)
        ids[b, 0] = cls
        mask[b, :n] = 1
    # masked positions (never [CLS] or padding), one kept, one random, rest [MASK]
    pos = [0 * T + 2, 0 * T + 5, 1 * T + 1, 1 * T + 3, 1 * T + 4, 2 * T + 2]
    labels = [int(ids.view(-1)[p]) for p in pos]
    flat = ids.view(-1)
    for k, p in enumerate(pos):
        if k == 1:
            continue                  # kept
        flat[p] = 7 if k == 4 else mask_id
    W = {n: w.to(DT).requires_grad_(True) for n, w in W32.items()}
    cfg = dict(L=L, C=C, NH=NH, pad=pad, eps=eps)
    x = encode(fam, cfg, W, ids, tt, mask).reshape(B * T, C)
    lab = torch.full((B * T,), -100, dtype=torch.long)
    lab[pos] = torch.tensor(labels)
    logits = mlm_logits(fam, W, x, C, eps, V)
    loss = F.cross_entropy(logits, lab, ignore_index=-100)
    acc = (logits[pos].argmax(-1) == torch.tensor(labels)).double().mean().item()
    loss.backward()

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    M = len(pos)
    with open(path + ".tmp", "wb") as f:
        f.write(b"IDIMMLM1")
        f.write(struct.pack("<13i", fam, L, C, NH, Fd, V, P, TV, pad, B, T, M, len(table)))
        f.write(struct.pack("<f", eps))
        for arr in (ids, tt, mask):
            f.write(struct.pack(f"<{B*T}i", *arr.flatten().tolist()))
        f.write(struct.pack(f"<{M}i", *pos))
        f.write(struct.pack(f"<{M}i", *labels))
        for n, shape in table:
            data = W32[n].flatten().tolist()
            f.write(struct.pack("<i", len(n)) + n.encode())
            f.write(struct.pack("<i", len(data)))
            f.write(struct.pack(f"<{len(data)}f", *data))
        f.write(struct.pack("<ff", loss.item(), acc))
        for n, shape in table:
            gr = W[n].grad.flatten().tolist()
            f.write(struct.pack(f"<{len(gr)}f", *gr))
    os.replace(path + ".tmp", path)
    print(f"{path}: loss {loss.item():.6f}, accuracy {acc:.3f}, {len(table)} tensors")


if __name__ == "__main__":
    make("bert_mlm", 1, 11)
    make("roberta_mlm", 2, 12)
