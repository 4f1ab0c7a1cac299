#!/usr/bin/env python3
"""Builds the small seed corpora of fuzz/ (issue 12) from the committed
fixtures: Hugging Face folders shrunk to a few hundred vocabulary entries
(every tensor whose first dimension is the vocabulary is sliced), packed in
the record format fuzz/fuzz_hf.c reads: per file one byte file id, a u32
little-endian length, the bytes. Deterministic; run from the repository root:
    python3 scripts/make_fuzz_seeds.py
"""
import json
import os
import struct

NAMES = ["config.json", "model.safetensors", "model.safetensors.index.json",
         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
         "vocab.txt", "tokenizer.json", "vocab.json", "merges.txt",
         "tokenizer_config.json", "special_tokens_map.json"]
ESIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}


def shrink_st(raw, vocab, n):
    hn = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + hn])
    data = raw[8 + hn:]
    out_hdr, blobs, off = {}, [], 0
    for name, t in hdr.items():
        if name == "__metadata__":
            out_hdr[name] = t
            continue
        b, e = t["data_offsets"]
        blob = data[b:e]
        shape = list(t["shape"])
        if shape and shape[0] == vocab:
            row = len(blob) // vocab
            blob = blob[:row * n]
            shape[0] = n
        out_hdr[name] = {"dtype": t["dtype"], "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(out_hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def pack(files):
    out = b""
    for name, data in files:
        out += bytes([NAMES.index(name)]) + struct.pack("<I", len(data)) + data
    return out


def read(d, f):
    with open(os.path.join(d, f), "rb") as fh:
        return fh.read()


def bert(src, n):
    cfg = json.loads(read(src, "config.json"))
    vocab = cfg["vocab_size"]
    cfg["vocab_size"] = n
    files = [("config.json", json.dumps(cfg).encode())]
    if os.path.exists(os.path.join(src, "model.safetensors")):
        files.append(("model.safetensors", shrink_st(read(src, "model.safetensors"), vocab, n)))
    else:
        idx = json.loads(read(src, "model.safetensors.index.json"))
        files.append(("model.safetensors.index.json", json.dumps(idx).encode()))
        for shard in sorted(set(idx["weight_map"].values())):
            files.append((shard, shrink_st(read(src, shard), vocab, n)))
    if os.path.exists(os.path.join(src, "vocab.txt")):
        lines = read(src, "vocab.txt").split(b"\n")[:n]
        files.append(("vocab.txt", b"\n".join(lines) + b"\n"))
    if os.path.exists(os.path.join(src, "tokenizer.json")):
        tj = json.loads(read(src, "tokenizer.json"))
        tj["model"]["vocab"] = {k: v for k, v in tj["model"]["vocab"].items() if v < n}
        tj["added_tokens"] = [a for a in tj.get("added_tokens", []) if a["id"] < n]
        files.append(("tokenizer.json", json.dumps(tj).encode()))
    files.append(("tokenizer_config.json", read(src, "tokenizer_config.json")))
    return pack(files)


def roberta(src, n):
    cfg = json.loads(read(src, "config.json"))
    vocab = cfg["vocab_size"]
    cfg["vocab_size"] = n
    vj = json.loads(read(src, "vocab.json"))
    keep = {k: v for k, v in vj.items() if v < n - 1}
    keep["<mask>"] = n - 1
    merges = [b"#version: 0.2"]
    for line in read(src, "merges.txt").split(b"\n")[1:]:
        parts = line.split(b" ")
        if len(parts) == 2 and all(p.decode("utf-8", "replace") in keep for p in parts) and \
                (parts[0] + parts[1]).decode("utf-8", "replace") in keep:
            merges.append(line)
    return pack([("config.json", json.dumps(cfg).encode()),
                 ("model.safetensors", shrink_st(read(src, "model.safetensors"), vocab, n)),
                 ("vocab.json", json.dumps(keep).encode()),
                 ("merges.txt", b"\n".join(merges) + b"\n"),
                 ("tokenizer_config.json", read(src, "tokenizer_config.json"))])


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def main():
    fx = "tests/fixtures/hf"
    write("fuzz/corpus/hf/bert_f32", bert(os.path.join(fx, "bert_f32"), 110))
    write("fuzz/corpus/hf/bert_bf16_sharded", bert(os.path.join(fx, "bert_bf16_sharded"), 110))
    write("fuzz/corpus/hf/electra_f32", bert(os.path.join(fx, "electra_f32"), 110))
    write("fuzz/corpus/hf/roberta_f16", roberta(os.path.join(fx, "roberta_f16"), 300))


if __name__ == "__main__":
    main()
