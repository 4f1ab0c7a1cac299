#!/bin/sh
# e2e_memory.sh - the memory guard (issue 12, finding 9): --d above the
# model's parameter count is a usage error that says the largest d; a
# projection or model that would not fit in --max-memory is refused before
# it is allocated, saying what it needs, what is available and which option
# lowers it; the check is on everything a run holds at once (model,
# tables, optimizer state), not on each part alone. Needs data/demo (committed).
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
grep -q "a DID run with d = 400000 needs .* at once (.*the Fastfood tables .*), more than the 64.0 MiB available (--max-memory); lower --d" "$T/err" ||
    fail "projection message: $(cat "$T/err")"
# what a run holds AT ONCE is checked, not each part alone: with 230 MiB the
# model (22 MiB) and the tables (221 MiB) each fit, their sum (255 MiB) does not
"$IDIM" train $C --d 400000 --method did --max-memory 230M >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "needs 25[0-9.]* MiB at once (the model with activations for 32 x 24 tokens 2[0-9.]* MiB, the model file [0-9.]* MiB, the tokenized task [0-9.]* KiB, theta_d and the weight update .*, the Fastfood tables 2[0-9.]* MiB, the optimizer state" "$T/err" ||
    fail "sum over --max-memory: exit $rc: $(cat "$T/err")"
# the mapped model file counts with its size
mf=$(stat -c %s "$T/m.bin" | awk '{printf "%.1f MiB", $1 / 1048576}')
grep -q "the model file $mf," "$T/err" || fail "model file part is not its size ($mf): $(cat "$T/err")"
# full fine-tuning counts AdamW's two moments with the model (22.4 + 3.7 MiB)
"$IDIM" finetune $C --lr 1e-3 --max-memory 24M >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q "full fine-tuning needs .* at once (.*, the optimizer state 3.7 MiB)" "$T/err" ||
    fail "finetune sum: exit $rc: $(cat "$T/err")"
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
