#!/bin/sh
# e2e_foundation.sh - idim convert / init / info end to end through the CLI.
#   1. every committed HF fixture converts; `idim info` lists exactly the
#      tensors of tests/fixtures/hf/expected.txt with their shapes, and
#      `info --json` names them too;
#   2. `info --dump` prints the exact f32 bits torch computed (F16 and BF16
#      special values);
#   3. a failed conversion (corrupt safetensors) exits 3 and leaves neither
#      the output nor a temporary file;
#   4. `init` writes a model whose parameter count is the table's, without a
#      tokenizer when only --vocab-size is given; same seed => same bytes;
#   5. with ../shared: `init --preset base --vocab bert-base-uncased` reports
#      109,482,240 parameters (what Hugging Face counts for BertModel).
# Exit 0 pass, 77 skip, anything else fail.
IDIM=${IDIM:-./idim}
FIX=tests/fixtures/hf
[ -f "$FIX/expected.txt" ] || { echo "e2e_foundation: $FIX absent"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_foundation FAIL: $*"; exit 1; }

for fx in bert_f32 roberta_f16 bert_bf16_sharded electra_f32; do
    "$IDIM" convert --hf "$FIX/$fx" -o "$T/$fx.bin" >"$T/conv.out" 2>"$T/conv.err" ||
        fail "convert $fx: $(cat "$T/conv.err")"
    "$IDIM" info "$T/$fx.bin" >"$T/info.txt" || fail "info $fx"
    grep -q "checksum [0-9a-f]* verified" "$T/info.txt" || fail "info $fx: no integrity line"
    # expected: "name AxB" per tensor, in order
    awk -v f="$fx" '$1=="fixture"{on=($2==f)} on&&$1=="tensor"{print $2, $3}' "$FIX/expected.txt" >"$T/want"
    awk '/^tensors:/{on=1; next} on{s=$3; for(i=4;i<=NF-1;i++) s=s $i; gsub(/[\[\]]/,"",s); gsub(/,/,"x",s); print $1, s}' \
        "$T/info.txt" >"$T/got"
    [ -s "$T/want" ] || fail "$fx: no expected tensors"
    cmp -s "$T/want" "$T/got" || { diff "$T/want" "$T/got" | head; fail "info $fx: tensor list differs"; }
    "$IDIM" info --json "$T/$fx.bin" >"$T/info.json" || fail "info --json $fx"
    while read -r name shape; do
        grep -q "\"name\":[[:space:]]*\"$name\"" "$T/info.json" || fail "info --json $fx lacks $name"
    done <"$T/want"
done
grep -q "dropped cls.predictions.bias" "$T/conv.out" 2>/dev/null || true

# 2. exact widening visible through the CLI
for pair in roberta_f16:roberta.embeddings.LayerNorm.bias bert_bf16_sharded:bert.embeddings.LayerNorm.bias; do
    fx=${pair%%:*}; name=${pair#*:}
    want=$(awk -v n="$name" '$1=="bits" && $2==n {for(i=3;i<=NF;i++) printf "0x%s\n", $i}' "$FIX/expected.txt")
    got=$("$IDIM" info "$T/$fx.bin" --dump "$name" | awk '{print $2}')
    [ -n "$want" ] && [ "$want" = "$got" ] || fail "dump $fx $name: got $got, want $want"
done

# 3. corrupt safetensors: exit 3, no output, no temp file
cp -r "$FIX/bert_f32" "$T/bad"
head -c 200000 "$FIX/bert_f32/model.safetensors" >"$T/bad/model.safetensors"
"$IDIM" convert --hf "$T/bad" -o "$T/bad.bin" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "corrupt convert exit $rc, expected 3"
grep -q "bad/model.safetensors" "$T/err" || fail "corrupt convert message: $(cat "$T/err")"
[ ! -e "$T/bad.bin" ] || fail "failed convert left $T/bad.bin"
ls "$T" | grep -q '\.tmp\.' && fail "failed convert left a temporary file"

# 4. init: counts, no tokenizer, determinism
"$IDIM" init --preset tiny --vocab-size 1000 --seed 5 -o "$T/a.bin" >/dev/null || fail "init tiny"
"$IDIM" init --preset tiny --vocab-size 1000 --seed 5 -o "$T/b.bin" >/dev/null || fail "init tiny 2"
cmp -s "$T/a.bin" "$T/b.bin" || fail "same seed gave different files"
"$IDIM" init --preset tiny --vocab-size 1000 --seed 6 -o "$T/c.bin" >/dev/null || fail "init tiny 3"
cmp -s "$T/a.bin" "$T/c.bin" && fail "different seeds gave the same file"
# tiny: V=1000 P=512 TV=2 C=128 L=2 F=512, pooler: embeddings (1000+512+2)*128+256 = 194,048, layers 2 x 198,272, pooler 16,512
"$IDIM" info "$T/a.bin" >"$T/a.txt" || fail "info tiny"
grep -q "parameters: *607,104 total" "$T/a.txt" || { cat "$T/a.txt" | head -12; fail "tiny parameter count"; }
grep -q "tokenizer: *none" "$T/a.txt" || fail "tiny should hold no tokenizer"
ln1=$("$IDIM" info "$T/a.bin" --dump bert.embeddings.LayerNorm.weight | awk '$2!="0x3f800000"' | wc -l)
[ "$ln1" -eq 0 ] || fail "LayerNorm weights are not all 1"

# 5. base with the real vocabulary
V=../shared/data/tokenizers/bert-base-uncased/vocab.txt
if [ -f "$V" ]; then
    "$IDIM" init --preset base --vocab "$V" -o "$T/base.bin" >/dev/null || fail "init base"
    "$IDIM" info "$T/base.bin" | grep -q "parameters: *109,482,240 total" || fail "base parameter count"
    rm -f "$T/base.bin"
else
    echo "e2e_foundation: $V absent: base check skipped"
fi
echo "e2e_foundation: ok"
