#!/usr/bin/python3
"""make_reference.py - golden fixtures for tests/test_model.c.

An independent implementation of Hugging Face's BertForSequenceClassification
and RobertaForSequenceClassification (modeling_bert.py / modeling_roberta.py,
eager attention) in plain torch, computed in float64 from float32 weights:
logits, loss and the autograd gradient of every parameter, for tiny random
models on a padded batch. Dropout is off (eval semantics), as the C test runs
with dropout 0.

Run with Debian's torch:  /usr/bin/python3 scripts/make_reference.py
Writes tests/fixtures/golden/{bert,roberta}_{cls,reg}.bin, little-endian:
  "IDIMGLD1"
  int32[14]  family(1 bert, 2 roberta), L, C, NH, F, V, P, TV, pad_id,
             n_labels, B, T, n_tensors, 0
  float32    ln_eps
  int32      ids[B*T], type_ids[B*T], mask[B*T], labels[B]
  float32    targets[B]
  n_tensors x { int32 name_len, name bytes, int32 n_elem, float32 data[n_elem] }
             (in the order of arch.h's ARCH_TABLE_MODEL table)
  float32    logits[B*n_labels], loss
  n_tensors x float32 grad[n_elem]  (same order)
"""
import math
import os
import struct

import torch
import torch.nn.functional as F

DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "golden")


def tensor_table(fam, L, C, Fd, V, P, TV, NL):
    """Names and shapes in ARCH_TABLE_MODEL order (see include/arch.h)."""
    p = "bert" if fam == 1 else "roberta"
    t = [(f"{p}.embeddings.word_embeddings.weight", (V, C)),
         (f"{p}.embeddings.position_embeddings.weight", (P, C)),
         (f"{p}.embeddings.token_type_embeddings.weight", (TV, C)),
         (f"{p}.embeddings.LayerNorm.weight", (C,)),
         (f"{p}.embeddings.LayerNorm.bias", (C,))]
    for i in range(L):
        e = f"{p}.encoder.layer.{i}."
        for k in ("query", "key", "value"):
            t += [(e + f"attention.self.{k}.weight", (C, C)), (e + f"attention.self.{k}.bias", (C,))]
        t += [(e + "attention.output.dense.weight", (C, C)), (e + "attention.output.dense.bias", (C,)),
              (e + "attention.output.LayerNorm.weight", (C,)), (e + "attention.output.LayerNorm.bias", (C,)),
              (e + "intermediate.dense.weight", (Fd, C)), (e + "intermediate.dense.bias", (Fd,)),
              (e + "output.dense.weight", (C, Fd)), (e + "output.dense.bias", (C,)),
              (e + "output.LayerNorm.weight", (C,)), (e + "output.LayerNorm.bias", (C,))]
    if fam == 1:
        t += [(f"{p}.pooler.dense.weight", (C, C)), (f"{p}.pooler.dense.bias", (C,)),
              ("classifier.weight", (NL, C)), ("classifier.bias", (NL,))]
    else:
        t += [("classifier.dense.weight", (C, C)), ("classifier.dense.bias", (C,)),
              ("classifier.out_proj.weight", (NL, C)), ("classifier.out_proj.bias", (NL,))]
    return t


def encode(fam, cfg, W, ids, tt, mask):
    """The encoder's last hidden states [B, T, C] (BertModel / RobertaModel)."""
    L, C, NH, pad, eps = cfg["L"], cfg["C"], cfg["NH"], cfg["pad"], cfg["eps"]
    p = "bert" if fam == 1 else "roberta"
    B, T = ids.shape
    hd = C // NH

    def lin(x, name):
        return F.linear(x, W[name + ".weight"], W[name + ".bias"])

    def ln(x, name):
        return F.layer_norm(x, (C,), W[name + ".weight"], W[name + ".bias"], eps)

    # embeddings (BertEmbeddings / RobertaEmbeddings)
    if fam == 1:
        pos = torch.arange(T).unsqueeze(0).expand(B, T)
        pos_pad = None
    else:  # create_position_ids_from_input_ids
        m = ids.ne(pad).int()
        pos = (torch.cumsum(m, dim=1).type_as(m) * m).long() + pad
        pos_pad = pad
    x = (F.embedding(ids, W[f"{p}.embeddings.word_embeddings.weight"], padding_idx=pad)
         + F.embedding(tt, W[f"{p}.embeddings.token_type_embeddings.weight"])
         + F.embedding(pos, W[f"{p}.embeddings.position_embeddings.weight"], padding_idx=pos_pad))
    x = ln(x, f"{p}.embeddings.LayerNorm")
    # get_extended_attention_mask: (1 - mask) * finfo.min, broadcast over heads and queries
    ext = (1.0 - mask[:, None, None, :].to(DT)) * torch.finfo(DT).min
    for i in range(L):
        e = f"{p}.encoder.layer.{i}."

        def heads(t):
            return t.view(B, T, NH, hd).permute(0, 2, 1, 3)
        q = heads(lin(x, e + "attention.self.query"))
        k = heads(lin(x, e + "attention.self.key"))
        v = heads(lin(x, e + "attention.self.value"))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
        pr = torch.softmax(s, dim=-1)
        ctx = torch.matmul(pr, v).permute(0, 2, 1, 3).reshape(B, T, C)
        a = ln(lin(ctx, e + "attention.output.dense") + x, e + "attention.output.LayerNorm")
        h = lin(a, e + "intermediate.dense")
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))  # GELUActivation (erf)
        x = ln(lin(h, e + "output.dense") + a, e + "output.LayerNorm")
    return x


def forward(fam, cfg, W, ids, tt, mask, labels, targets):
    C, NL = cfg["C"], cfg["NL"]
    p = "bert" if fam == 1 else "roberta"

    def lin(x, name):
        return F.linear(x, W[name + ".weight"], W[name + ".bias"])

    x = encode(fam, cfg, W, ids, tt, mask)
    first = x[:, 0]
    if fam == 1:
        pooled = torch.tanh(lin(first, f"{p}.pooler.dense"))
        logits = lin(pooled, "classifier")
    else:
        logits = lin(torch.tanh(lin(first, "classifier.dense")), "classifier.out_proj")
    if NL == 1:
        loss = F.mse_loss(logits.squeeze(), targets.squeeze())
    else:
        loss = F.cross_entropy(logits.view(-1, NL), labels.view(-1))
    return logits, loss


def random_weights(table, g):
    """float32 test weights: matrices ~0.3 N(0,1), LayerNorm weights 1 + 0.2 N(0,1), else 0.2 N(0,1)."""
    W32 = {}
    for n, shape in table:
        if len(shape) == 2:
            w = 0.3 * torch.randn(shape, generator=g)
        elif n.endswith("LayerNorm.weight") or n.endswith("layer_norm.weight"):
            w = 1.0 + 0.2 * torch.randn(shape, generator=g)
        else:
            w = 0.2 * torch.randn(shape, generator=g)
        W32[n] = w.float()
    return W32


def make(name, fam, NL, seed):
    g = torch.Generator().manual_seed(seed)
    L, C, NH, Fd, V = 2, 16, 2, 32, 40
    if fam == 1:
        P, TV, pad, eps, cls = 12, 2, 0, 1e-12, 2
    else:
        P, TV, pad, eps, cls = 16, 1, 1, 1e-5, 0
    B, T = 3, 7
    lengths = [7, 5, 3]
    table = tensor_table(fam, L, C, Fd, V, P, TV, NL)
    W32 = random_weights(table, g)
    ids = torch.full((B, T), pad, dtype=torch.long)
    tt = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(3, V, (n,), generator=g)
        ids[b, 0] = cls
        mask[b, :n] = 1
        if fam == 1:
            tt[b, n // 2:n] = 1
    labels = torch.randint(0, max(NL, 2), (B,), generator=g)
    targets = (torch.rand((B,), generator=g) * 5.0).float()

    W = {n: w.to(DT).requires_grad_(True) for n, w in W32.items()}
    cfg = dict(L=L, C=C, NH=NH, pad=pad, eps=eps, NL=NL)
    logits, loss = forward(fam, cfg, W, ids, tt, mask, labels, targets.to(DT))
    loss.backward()

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    with open(path + ".tmp", "wb") as f:
        f.write(b"IDIMGLD1")
        f.write(struct.pack("<14i", fam, L, C, NH, Fd, V, P, TV, pad, NL, B, T, len(table), 0))
        f.write(struct.pack("<f", eps))
        for arr in (ids, tt, mask):
            f.write(struct.pack(f"<{B*T}i", *arr.flatten().tolist()))
        f.write(struct.pack(f"<{B}i", *labels.tolist()))
        f.write(struct.pack(f"<{B}f", *targets.tolist()))
        for n, shape in table:
            data = W32[n].flatten().tolist()
            f.write(struct.pack("<i", len(n)) + n.encode())
            f.write(struct.pack("<i", len(data)))
            f.write(struct.pack(f"<{len(data)}f", *data))
        lg = logits.detach().flatten().tolist()
        f.write(struct.pack(f"<{len(lg)}f", *lg))
        f.write(struct.pack("<f", loss.item()))
        for n, shape in table:
            gr = W[n].grad.flatten().tolist()
            f.write(struct.pack(f"<{len(gr)}f", *gr))
    os.replace(path + ".tmp", path)
    print(f"{path}: loss {loss.item():.6f}, {len(table)} tensors")


if __name__ == "__main__":
    make("bert_cls", 1, 3, 1)
    make("bert_reg", 1, 1, 2)
    make("roberta_cls", 2, 2, 3)
    make("roberta_reg", 2, 1, 4)
