#!/usr/bin/env python3
"""make_big_hf.py DIR VOCAB_TXT: a BERT folder (hidden 384, 6 layers, ffn 1536,
30,522 vocabulary rows, BF16, 22 M parameters) whose weights are zeros,
written sparse so it costs no disk; for tests that need `idim convert` to
work for a while (tests/e2e_interrupt.sh)."""
import json, os, shutil, struct, sys

d, vocab = sys.argv[1], sys.argv[2]
H, L, F, V, P = 384, 6, 1536, 30522, 512
os.makedirs(d, exist_ok=True)
cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": H,
       "num_hidden_layers": L, "num_attention_heads": 6, "intermediate_size": F,
       "vocab_size": V, "max_position_embeddings": P, "type_vocab_size": 2,
       "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
shutil.copy(vocab, os.path.join(d, "vocab.txt"))
t = [("embeddings.word_embeddings.weight", [V, H]),
     ("embeddings.position_embeddings.weight", [P, H]),
     ("embeddings.token_type_embeddings.weight", [2, H]),
     ("embeddings.LayerNorm.weight", [H]), ("embeddings.LayerNorm.bias", [H])]
for i in range(L):
    p = "encoder.layer.%d." % i
    for n in ("query", "key", "value"):
        t += [(p + "attention.self.%s.weight" % n, [H, H]), (p + "attention.self.%s.bias" % n, [H])]
    t += [(p + "attention.output.dense.weight", [H, H]), (p + "attention.output.dense.bias", [H]),
          (p + "attention.output.LayerNorm.weight", [H]), (p + "attention.output.LayerNorm.bias", [H]),
          (p + "intermediate.dense.weight", [F, H]), (p + "intermediate.dense.bias", [F]),
          (p + "output.dense.weight", [H, F]), (p + "output.dense.bias", [H]),
          (p + "output.LayerNorm.weight", [H]), (p + "output.LayerNorm.bias", [H])]
t += [("pooler.dense.weight", [H, H]), ("pooler.dense.bias", [H])]
hdr, off = {}, 0
for name, shape in t:
    n = 2
    for s in shape:
        n *= s
    hdr["bert." + name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
    off += n
j = json.dumps(hdr).encode()
j += b" " * ((8 - len(j) % 8) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(j)) + j)
    f.truncate(8 + len(j) + off)  # zeros, sparse
