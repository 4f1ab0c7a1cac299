#!/bin/sh
# e2e_convert_mlm.sh - `idim convert` keeps a Hugging Face masked-LM head
# when all five of its tensors are there: the bert_f32 fixture gets the
# missing head tensors (LayerNorm in the old gamma/beta names, plus the tied
# decoder weight and bias that must be dropped as duplicates), written with
# python3's standard library; the converted file says "MLM head yes" and
# holds the head's values bit for bit under HF names; `idim pretrain` would
# continue from it. The plain fixture (a partial head) still drops it.
IDIM=${IDIM:-./idim}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_convert_mlm FAIL: $*"; exit 1; }
F=tests/fixtures/hf/bert_f32
mkdir "$T/hf" && cp "$F/config.json" "$F/vocab.txt" "$F/tokenizer_config.json" "$T/hf/" || fail "copy"
python3 - "$F/model.safetensors" "$T/hf/model.safetensors" "$T/expect.txt" <<'EOF' || fail "python"
import json, struct, sys
src, dst, exp = sys.argv[1:]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
meta = h.pop("__metadata__", None)
V = h["cls.predictions.bias"]["shape"][0]
C = h["cls.predictions.transform.dense.weight"]["shape"][1]
tensors = {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items()}
dtypes = {k: (v["dtype"], v["shape"]) for k, v in h.items()}
def f32(vals):
    return struct.pack(f"<{len(vals)}f", *vals)
add = {"cls.predictions.transform.dense.bias": [0.01 * i for i in range(C)],
       "cls.predictions.transform.LayerNorm.gamma": [1.0 + 0.1 * i for i in range(C)],
       "cls.predictions.transform.LayerNorm.beta": [-0.02 * i for i in range(C)],
       "cls.predictions.decoder.bias": [0.0] * V}
for k, v in add.items():
    tensors[k] = f32(v)
    dtypes[k] = ("F32", [len(v)])
tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
dtypes["cls.predictions.decoder.weight"] = dtypes["bert.embeddings.word_embeddings.weight"]
hdr, off, blob = {}, 0, b""
for k in sorted(tensors):
    t = tensors[k]
    hdr[k] = {"dtype": dtypes[k][0], "shape": dtypes[k][1], "data_offsets": [off, off + len(t)]}
    off += len(t)
    blob += t
if meta is not None:
    hdr["__metadata__"] = meta
j = json.dumps(hdr).encode()
j += b" " * ((8 - len(j) % 8) % 8)
open(dst, "wb").write(struct.pack("<Q", len(j)) + j + blob)
with open(exp, "w") as f:
    for i, x in enumerate(add["cls.predictions.transform.LayerNorm.gamma"]):
        f.write("%d 0x%08x\n" % (i, struct.unpack("<I", struct.pack("<f", x))[0]))
EOF
"$IDIM" convert --hf "$T/hf" -o "$T/m.bin" >"$T/conv.out" 2>&1 || fail "convert: $(cat "$T/conv.out")"
"$IDIM" info "$T/m.bin" >"$T/info" || fail "info"
grep -q "MLM head yes" "$T/info" || fail "the converted file has no MLM head: $(head -8 "$T/info")"
grep -q "cls.predictions.transform.LayerNorm.weight" "$T/info" || fail "LayerNorm.gamma not renamed"
grep -q "cls.predictions.decoder" "$T/info" && fail "the tied decoder was stored twice"
"$IDIM" info "$T/m.bin" --dump cls.predictions.transform.LayerNorm.weight >"$T/dump" || fail "dump"
awk '{print $1, $2}' "$T/dump" | diff - "$T/expect.txt" >/dev/null ||
    { head -3 "$T/dump"; head -3 "$T/expect.txt"; fail "head values differ"; }
# the committed fixture has only 2 of the 5 head tensors: no head
"$IDIM" convert --hf "$F" -o "$T/p.bin" >/dev/null 2>&1 || fail "convert the partial-head fixture"
"$IDIM" info "$T/p.bin" | grep -q "MLM head no" || fail "a partial head was kept"
echo "e2e_convert_mlm: ok"
