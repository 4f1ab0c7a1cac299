#!/bin/sh
# --max-len default: 128 tokens, or the model's maximum when that is smaller.
# A model with 32 positions trains without --max-len; an explicit --max-len
# beyond it is a usage error (exit 2) naming the model and the range.
IDIM=${IDIM:-./idim}
[ -f data/demo/train.tsv ] && [ -f data/demo/vocab.txt ] ||
    { echo "e2e_maxlen: data/demo missing, skipped"; exit 77; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fail() { echo "e2e_maxlen: $*"; exit 1; }
"$IDIM" init --preset tiny --max-pos 32 --vocab data/demo/vocab.txt --seed 1 -o "$TMP/m.bin" \
    >/dev/null || fail "init failed"
Q="--task mrpc --data data/demo --model $TMP/m.bin --threads 2 --limit-train 64 --limit-dev 40 --epochs 1"
"$IDIM" train $Q --d 20 --method did --quiet >"$TMP/out" 2>"$TMP/err" ||
    fail "train without --max-len failed: $(cat "$TMP/err")"
grep -q '"d":20' "$TMP/out" || fail "train printed no result line"
"$IDIM" finetune $Q --lr 1e-3 --quiet >/dev/null 2>"$TMP/err" ||
    fail "finetune without --max-len failed: $(cat "$TMP/err")"
"$IDIM" train $Q --d 20 --method did --max-len 64 --quiet >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] || fail "--max-len 64 on a 32-position model: exit $rc, expected 2"
grep -q "max-len 64 is out of range for $TMP/m.bin: 3 to 32" "$TMP/err" || fail "message: $(cat "$TMP/err")"
echo "e2e_maxlen: ok"
