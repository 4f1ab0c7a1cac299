#!/bin/sh
# e2e_memory.sh - the memory guard (issue 12, finding 9): --d above the
# model's parameter count is a usage error that says the largest d; a
# projection or model that would not fit in --max-memory is refused before
# it is allocated, saying what it needs, what is available and which option
# lowers it. Needs data/demo (committed).
IDIM=${IDIM:-./idim}
[ -f data/demo/train.tsv ] && [ -f data/demo/vocab.txt ] ||
    { echo "e2e_memory: data/demo missing, skipped"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_memory FAIL: $*"; exit 1; }
mkdir "$T/task"; head -n 21 data/demo/train.tsv >"$T/task/train.tsv"; head -n 11 data/demo/dev.tsv >"$T/task/dev.tsv"
"$IDIM" init --preset tiny --vocab data/demo/vocab.txt -o "$T/m.bin" >/dev/null || fail init
C="--model $T/m.bin --task mrpc --data $T/task --max-len 24 --threads 1 --quiet --epochs 1"
D=$("$IDIM" info "$T/m.bin" | sed -n 's/^parameters: *\([0-9,]*\).*/\1/p' | tr -d ,)

# d far above D: a usage error naming the largest d, not the OOM killer
"$IDIM" train $C --d 100000000 --method did >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "larger than the model's .* trainable parameters" "$T/err" ||
    fail "--d 100000000: exit $rc: $(cat "$T/err")"
grep -q "use --d [0-9]* or less" "$T/err" || fail "--d message lacks the largest d: $(cat "$T/err")"
"$IDIM" train $C --d 100000000 --method said >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "said --d 100000000: exit $rc"
# projection tables above --max-memory: exit 4 with what is needed and the way out
"$IDIM" train $C --d 400000 --method did --max-memory 64M >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] || fail "projection over --max-memory: exit $rc: $(cat "$T/err")"
grep -q "Fastfood projection for d = 400000 .* needs .* more than the 64.0 MiB available (--max-memory); lower --d" "$T/err" ||
    fail "projection message: $(cat "$T/err")"
IDIM_MAX_MEMORY=64M "$IDIM" train $C --d 400000 --method did >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "(IDIM_MAX_MEMORY)" "$T/err" || fail "IDIM_MAX_MEMORY: exit $rc: $(cat "$T/err")"
# the model and its activations above --max-memory
"$IDIM" finetune $C --lr 1e-3 --max-memory 1M >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "lower --batch or --max-len" "$T/err" || fail "model over --max-memory: exit $rc: $(cat "$T/err")"
# within the limit the same run works
"$IDIM" train $C --d 100 --method did --max-memory=2G >/dev/null 2>"$T/err" || fail "--max-memory 2G: $(cat "$T/err")"
"$IDIM" train $C --d 100 --max-memory 12X >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "max-memory takes a size" "$T/err" || fail "bad --max-memory: exit $rc"
echo "e2e_memory: ok (D = $D)"
exit 0
