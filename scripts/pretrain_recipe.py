#!/usr/bin/python3
"""pretrain_recipe.py - measure pretraining recipes for small presets in PyTorch.

The independent reference behind docs/PRETRAIN.md's recipe comparison (issue
10): it pretrains a BERT encoder with the encoder of scripts/make_reference.py
(the project's independent reimplementation of Hugging Face's BertModel, run in
float32 here) and a masked-LM head laid out as Hugging Face's BertForMaskedLM
(cls.predictions.transform.{dense,LayerNorm}, decoder tied to the word
embeddings, cls.predictions.bias), for a fixed wall-clock budget, and writes a
Hugging Face folder (config.json, model.safetensors, vocab.txt) that
`idim convert --hf DIR` turns into an idim model for `idim finetune` and
`idim train`. It is an experiment tool, not part of idim: `idim pretrain` is the
product.

  /usr/bin/python3 scripts/pretrain_recipe.py --corpus ~/.cache/idim/corpus/train.txt \
      --vocab ../shared/data/tokenizers/bert-base-uncased/vocab.txt --minutes 10 \
      --lr 2e-3 --seq-len 128 --batch 64 --out /tmp/pt [--emb-init ppmi]
      [--init-from DIR] [--heldout FILE] [--limit-docs N]

Masking as RoBERTa: dynamic, 15% of the tokens, 80% [MASK] / 10% random / 10%
kept; the vocabulary softmax only at masked positions. Documents are packed into
--seq-len blocks ([CLS] + tokens, [SEP] between documents). AdamW (betas 0.9,
0.98, weight decay 0.01, none on biases/LayerNorm), linear warm-up (--warmup
fraction) and linear decay to 0 over the step count estimated from the budget,
gradient-norm clip 1.0. --emb-init ppmi initialises the word embeddings from a
PPMI + truncated SVD of the corpus' co-occurrence counts (window 5), scaled to
std 0.02 like a random init. One thread (torch.set_num_threads(1)) unless
--threads. A JSON line per log step (step, seconds, tokens, loss, lr) goes to
OUT/log.jsonl; the held-out masked-LM loss is scored at the end.
"""
import argparse
import json
import math
import os
import re
import sys
import time
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as mr  # noqa: E402
from pt2safetensors import save_file  # noqa: E402

mr.DT = torch.float32   # the reference runs float64 for fixtures; float32 here


# --------------------------------------------------------------- WordPiece
# Hugging Face's BertTokenizer (do_lower_case): clean, split CJK, lower case,
# strip accents (NFD, drop Mn), split on punctuation, greedy longest-match
# WordPiece with '##' continuations, [UNK] for words over 100 chars or with no
# split. Checked against tests/fixtures/tok/bert.sst2.128.ids (--check-tok).

def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    def __init__(self, vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            self.itos = [ln.rstrip("\n") for ln in f]
        self.vocab = {w: i for i, w in enumerate(self.itos)}
        self.unk = self.vocab["[UNK]"]
        self.cache = {}

    def _clean(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            cat = unicodedata.category(ch)
            if ch in "\t\n\r" or ch == " " or cat == "Zs":
                out.append(" ")
            elif cat in ("Cc", "Cf"):
                continue
            elif _is_cjk(cp):
                out.append(" " + ch + " ")
            else:
                out.append(ch)
        return "".join(out)

    def _word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        if len(w) > 100:
            ids = [self.unk]
        else:
            ids, start = [], 0
            while start < len(w):
                end, cur = len(w), None
                while start < end:
                    sub = w[start:end] if start == 0 else "##" + w[start:end]
                    if sub in self.vocab:
                        cur = self.vocab[sub]
                        break
                    end -= 1
                if cur is None:
                    ids = [self.unk]
                    break
                ids.append(cur)
                start = end
        self.cache[w] = ids
        return ids

    def encode(self, text):
        if not text.isascii():
            text = self._clean(text).lower()
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        else:
            text = text.lower()
        ids = []
        for tok in text.split():
            if tok.isalnum() and tok.isascii():
                ids.extend(self._word(tok))
                continue
            piece = []
            for ch in tok:
                if _is_punct(ch):
                    if piece:
                        ids.extend(self._word("".join(piece)))
                        piece = []
                    ids.extend(self._word(ch))
                else:
                    piece.append(ch)
            if piece:
                ids.extend(self._word("".join(piece)))
        return ids


def read_docs(path, limit=0):
    with open(path, encoding="utf-8") as f:
        docs = [ln.strip() for ln in f if ln.strip()]
    return docs[:limit] if limit else docs


def tokenize_corpus(tok, path, cache, limit=0):
    """Token stream (int32) with [SEP] after each document; cached as .npy."""
    if cache and os.path.exists(cache):
        return np.load(cache)
    sep = tok.vocab["[SEP]"]
    out = []
    for d in read_docs(path, limit):
        out.extend(tok.encode(d))
        out.append(sep)
    arr = np.asarray(out, dtype=np.int32)
    if cache:
        np.save(cache, arr)
    return arr


# --------------------------------------------------------------- model

def param_table(L, C, Fd, V, P):
    t = mr.tensor_table(1, L, C, Fd, V, P, 2, 2)
    t = [x for x in t if not x[0].startswith("classifier")]
    t += [("cls.predictions.transform.dense.weight", (C, C)),
          ("cls.predictions.transform.dense.bias", (C,)),
          ("cls.predictions.transform.LayerNorm.weight", (C,)),
          ("cls.predictions.transform.LayerNorm.bias", (C,)),
          ("cls.predictions.bias", (V,))]
    return t


def init_params(table, g):
    W = {}
    for n, shape in table:
        if n.endswith("LayerNorm.weight"):
            w = torch.ones(shape)
        elif len(shape) == 2:
            w = torch.randn(shape, generator=g) * 0.02
        else:
            w = torch.zeros(shape)
        W[n] = w.requires_grad_(True)
    return W


def mlm_logits(cfg, W, ids, positions, keep=None):
    """Vocabulary logits at the flattened masked positions [M, V] (or [M, K]
    over the kept output tokens `keep`, a frequent-token subset)."""
    B, T = ids.shape
    tt = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    x = mr.encode(1, cfg, W, ids, tt, mask).reshape(B * T, -1)[positions]
    h = F.linear(x, W["cls.predictions.transform.dense.weight"], W["cls.predictions.transform.dense.bias"])
    h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
    h = F.layer_norm(h, (h.shape[-1],), W["cls.predictions.transform.LayerNorm.weight"],
                     W["cls.predictions.transform.LayerNorm.bias"], cfg["eps"])
    E, b = W["bert.embeddings.word_embeddings.weight"], W["cls.predictions.bias"]
    if keep is not None:
        E, b = E[keep], b[keep]
    return F.linear(h, E, b)


def mask_batch(blocks, g, V, mask_id, special_max, p=0.15):
    """RoBERTa dynamic masking: returns (inputs, flat positions, targets)."""
    ids = blocks.clone()
    cand = ids > special_max                      # never mask [CLS]/[SEP]/[PAD]
    sel = (torch.rand(ids.shape, generator=g) < p) & cand
    r = torch.rand(ids.shape, generator=g)
    rnd = torch.randint(special_max + 1, V, ids.shape, generator=g)
    targets = blocks[sel]
    ids[sel & (r < 0.8)] = mask_id
    swap = sel & (r >= 0.8) & (r < 0.9)
    ids[swap] = rnd[swap]
    return ids, sel.flatten().nonzero().squeeze(1), targets


# --------------------------------------------------------------- PPMI init

def ppmi_embeddings(stream, V, C, window=5, max_tokens=6_000_000, seed=0):
    """Word vectors from PPMI (context-distribution smoothing 0.75) + SVD."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import svds
    s = stream[:max_tokens].astype(np.int64)
    rows, cols = [], []
    for k in range(1, window + 1):
        rows.append(s[:-k]); cols.append(s[k:])
        rows.append(s[k:]); cols.append(s[:-k])
    r = np.concatenate(rows); c = np.concatenate(cols)
    M = coo_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(V, V)).tocsr()
    M.sum_duplicates()
    tot = M.sum()
    wr = np.asarray(M.sum(axis=1)).ravel()
    wc = np.asarray(M.sum(axis=0)).ravel() ** 0.75
    wc = wc / wc.sum()
    M = M.tocoo()
    pmi = np.log(M.data * 1.0 / tot) - np.log(wr[M.row] / tot) - np.log(wc[M.col] + 1e-30)
    keep = pmi > 0
    P = coo_matrix((pmi[keep].astype(np.float32), (M.row[keep], M.col[keep])), shape=(V, V)).tocsr()
    rng = np.random.RandomState(seed)
    u, sv, _ = svds(P, k=C, v0=rng.rand(V))
    E = u * np.sqrt(sv)[None, :]
    E = E - E.mean(axis=0, keepdims=True)
    E = E / (E.std() + 1e-12) * 0.02
    seen = wr > 0
    E[~seen] = rng.randn(int((~seen).sum()), C) * 0.02
    return torch.from_numpy(E.astype(np.float32)), int(seen.sum())


# --------------------------------------------------------------- main

def export(W, cfg, vocab_path, out, P, V):
    os.makedirs(out, exist_ok=True)
    hf = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_act": "gelu",
          "hidden_size": cfg["C"], "num_hidden_layers": cfg["L"], "num_attention_heads": cfg["NH"],
          "intermediate_size": cfg["Fd"], "vocab_size": V, "max_position_embeddings": P,
          "type_vocab_size": 2, "layer_norm_eps": cfg["eps"], "pad_token_id": 0,
          "position_embedding_type": "absolute", "initializer_range": 0.02}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf, f, indent=1)
    with open(vocab_path, "rb") as a, open(os.path.join(out, "vocab.txt"), "wb") as b:
        b.write(a.read())
    save_file({n: t.detach().contiguous() for n, t in W.items()},
              os.path.join(out, "model.safetensors"))


def heldout_loss(cfg, W, stream, T, V, mask_id, n_blocks=64, seed=1234):
    g = torch.Generator().manual_seed(seed)
    nb = min(n_blocks, (len(stream) - 1) // (T - 1))
    blocks = torch.stack([torch.cat([torch.tensor([101]), torch.from_numpy(
        stream[i * (T - 1):(i + 1) * (T - 1)].astype(np.int64))]) for i in range(nb)])
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, nb, 16):
            ids, pos, tgt = mask_batch(blocks[i:i + 16], g, V, mask_id, 103)
            lg = mlm_logits(cfg, W, ids, pos)
            tot += F.cross_entropy(lg, tgt, reduction="sum").item()
            n += len(tgt)
    return tot / max(n, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--heldout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--emb-init", choices=["random", "ppmi"], default="random")
    ap.add_argument("--ppmi-corpus", help="text for the PPMI vectors (default --corpus)")
    ap.add_argument("--init-from", help="continue from the state.pt of a folder this script wrote")
    ap.add_argument("--limit-docs", type=int, default=0)
    ap.add_argument("--out-vocab", type=int, default=0,
                    help="softmax over the K most frequent corpus tokens only; masked "
                         "positions whose target is rarer are not scored (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-tok", help="compare with a tests/fixtures/tok ids file (SST-2 dev)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tok = WordPiece(a.vocab)
    V = len(tok.itos)
    if a.check_tok:
        import csv
        dev = os.path.join(os.path.dirname(a.vocab), "..", "..", "glue", "SST-2", "dev.tsv")
        with open(dev, encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        want = [ln.split() for ln in open(a.check_tok)]
        bad = 0
        for r, w in zip(rows, want):
            got = [str(x) for x in [101] + tok.encode(r[0])[:126] + [102]]
            bad += got != w
        print(f"tokenizer: {len(want) - bad} of {len(want)} identical")
        return
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    cache = a.corpus + (f".lim{a.limit_docs}" if a.limit_docs else "") + ".ids.npy"
    stream = tokenize_corpus(tok, a.corpus, cache, a.limit_docs)
    held = tokenize_corpus(tok, a.heldout, a.heldout + ".ids.npy") if a.heldout else None
    print(f"corpus: {len(stream)} tokens ({time.time() - t0:.0f} s)", flush=True)
    T, B = a.seq_len, a.batch
    cfg = dict(L=a.layers, C=a.hidden, NH=a.heads, Fd=a.ffn, pad=0, eps=1e-12, NL=2)
    P = 512
    table = param_table(a.layers, a.hidden, a.ffn, V, P)
    g = torch.Generator().manual_seed(a.seed)
    W = init_params(table, g)
    if a.emb_init == "ppmi":
        t1 = time.time()
        src = stream
        if a.ppmi_corpus:
            src = tokenize_corpus(tok, a.ppmi_corpus, a.ppmi_corpus + ".ids.npy")
        E, n_seen = ppmi_embeddings(src, V, a.hidden, seed=a.seed)
        with torch.no_grad():
            W["bert.embeddings.word_embeddings.weight"].copy_(E)
        print(f"ppmi init: {n_seen} tokens seen, {time.time() - t1:.0f} s", flush=True)
    if a.init_from:
        st = torch.load(os.path.join(a.init_from, "state.pt"))
        with torch.no_grad():
            for n, w in W.items():
                w.copy_(st[n])
    keep = remap = None
    if a.out_vocab:
        cnt = np.bincount(stream, minlength=V)
        cnt[:104] = 0                                  # specials are never targets
        keep = torch.from_numpy(np.argsort(-cnt, kind="stable")[:a.out_vocab].astype(np.int64))
        remap = torch.full((V,), -1, dtype=torch.long)
        remap[keep] = torch.arange(len(keep))
        cover = cnt[keep.numpy()].sum() / max(cnt.sum(), 1)
        print(f"output vocabulary: {len(keep)} tokens cover {cover:.3f} of the corpus", flush=True)
    decay = [w for n, w in W.items() if len(w.shape) == 2]
    nodecay = [w for n, w in W.items() if len(w.shape) != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    n_blocks = (len(stream) - 1) // (T - 1)
    order = torch.randperm(n_blocks, generator=g)
    budget = a.minutes * 60
    start = time.time()
    est_steps = None
    step, pos, tokens = 0, 0, 0
    log = open(os.path.join(a.out, "log.jsonl"), "w")
    ema = None
    while a.minutes > 0:
        el = time.time() - start
        if step == 20:
            est_steps = max(int(budget / (el / 20)), 21)
        total = est_steps or 10 ** 9
        if est_steps and step >= est_steps:
            break
        wu = max(1, int(a.warmup * (est_steps or 10 ** 9)) if est_steps else int(a.warmup * 1000))
        lr = a.lr * (step + 1) / wu if step < wu else a.lr * max(0.0, (total - step) / max(1, total - wu))
        for gr in opt.param_groups:
            gr["lr"] = lr
        if pos + B > n_blocks:
            order = torch.randperm(n_blocks, generator=g); pos = 0
        idx = order[pos:pos + B]; pos += B
        blocks = torch.stack([torch.cat([torch.tensor([101]), torch.from_numpy(
            stream[i * (T - 1):(i + 1) * (T - 1)].astype(np.int64))]) for i in idx.tolist()])
        ids, mpos, tgt = mask_batch(blocks, g, V, tok.vocab["[MASK]"], 103)
        if keep is not None:
            t2 = remap[tgt]
            mpos, tgt = mpos[t2 >= 0], t2[t2 >= 0]
        loss = F.cross_entropy(mlm_logits(cfg, W, ids, mpos, keep), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
        opt.step()
        step += 1
        tokens += B * T
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 20 == 0 or step == 1:
            rec = dict(step=step, seconds=round(time.time() - start, 1), tokens=tokens,
                       loss=round(loss.item(), 4), loss_ema=round(ema, 4), lr=lr)
            log.write(json.dumps(rec) + "\n"); log.flush()
            print(json.dumps(rec), flush=True)
    secs = time.time() - start
    res = dict(steps=step, seconds=round(secs, 1), tokens=tokens,
               tokens_per_s=round(tokens / max(secs, 1e-9)),
               final_loss_ema=round(ema, 4) if ema else None, lr=a.lr, batch=B, seq_len=T, emb_init=a.emb_init,
               out_vocab=a.out_vocab, corpus=a.corpus, init_from=a.init_from)
    if held is not None:
        res["heldout_mlm_loss"] = round(heldout_loss(cfg, W, held, T, V, tok.vocab["[MASK]"]), 4)
    mlm = {n: w for n, w in W.items()}
    export(mlm, cfg | {"L": a.layers, "C": a.hidden, "NH": a.heads, "Fd": a.ffn}, a.vocab,
           os.path.join(a.out, "hf"), P, V)
    torch.save({n: w.detach() for n, w in W.items()}, os.path.join(a.out, "state.pt"))
    log.write(json.dumps(dict(result=res)) + "\n"); log.close()
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
