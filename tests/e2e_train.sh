#!/bin/sh
# e2e_train.sh - `idim finetune`, `idim train`, `idim eval` end to end on a
# tiny random model and a small slice of SST-2 (../shared): two identical
# runs print identical JSON apart from timing fields; a saved theta
# reproduces the dev metric exactly under `idim eval`; a theta is refused
# on another model. Skips (77) without ../shared.
TEST=e2e_train; . tests/shared_sst2.sh
# drop timing fields from a JSON line
strip() { sed -e 's/"seconds":[^,}]*//g' -e 's/"ex_per_s":[^,}]*//g' -e 's/"peak_rss_bytes":[^,}]*//g' -e 's/"eval_seconds":[^,}]*//g' "$1"; }

"$IDIM" init --preset tiny --vocab "$VOCAB" --seed 1 -o "$T/tiny.idim" >/dev/null || fail "init"
"$IDIM" init --preset tiny --vocab "$VOCAB" --seed 2 -o "$T/other.idim" >/dev/null || fail "init 2"

COMMON="--task sst2 --model $T/tiny.idim --data $SH/glue --limit-train 64 --limit-dev 64 --batch 16 --max-len 32 --epochs 2 --threads 1 --quiet"
for m in did said; do
    "$IDIM" train $COMMON --d 300 --method $m --save-theta "$T/$m.theta" >"$T/$m.1" || fail "train $m"
    "$IDIM" train $COMMON --d 300 --method $m >"$T/$m.2" || fail "train $m (2)"
    [ "$(wc -l <"$T/$m.1")" -eq 1 ] || fail "train $m printed more than one line"
    grep -q '"method":"'$m'"' "$T/$m.1" || fail "train $m: no method field"
    grep -q '"diverged":false' "$T/$m.1" || fail "train $m: diverged"
    [ "$(strip "$T/$m.1")" = "$(strip "$T/$m.2")" ] || { cat "$T/$m.1" "$T/$m.2"; fail "train $m: two runs differ"; }
    "$IDIM" eval --model "$T/tiny.idim" --theta "$T/$m.theta" --task sst2 --data "$SH/glue" >"$T/$m.eval" || fail "eval $m"
    grep -q '"reproduced":true' "$T/$m.eval" || { cat "$T/$m.1" "$T/$m.eval"; fail "eval $m: metric not reproduced"; }
    best=$(sed -n 's/.*"best":\([^,}]*\).*/\1/p' "$T/$m.1")
    val=$(sed -n 's/.*"value":\([^,}]*\).*/\1/p' "$T/$m.eval")
    [ "$best" = "$val" ] || fail "eval $m: $val, train said $best"
done
# a theta trained on another model is refused, naming both checksums
if "$IDIM" eval --model "$T/other.idim" --theta "$T/did.theta" --task sst2 --data "$SH/glue" >/dev/null 2>"$T/err"; then
    fail "eval accepted a theta of another model"
fi
grep -q "checksum" "$T/err" || fail "eval on another model: message lacks the checksums: $(cat "$T/err")"

# SAID with d <= m is a usage error that explains why
"$IDIM" train $COMMON --d 10 --method said >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "train --method said --d 10: exit $rc, expected 2"
grep -q "lambdas" "$T/err" || fail "SAID d <= m message: $(cat "$T/err")"

# full fine-tuning: two identical runs write identical JSON apart from timing
FT="--task sst2 --model $T/tiny.idim --data $SH/glue --limit-train 64 --limit-dev 64 --batch 16 --max-len 32 --epochs 1 --lr 1e-3,5e-4 --threads 1 --quiet"
"$IDIM" finetune $FT --out "$T/ft1.json" >"$T/ft1.txt" || fail "finetune"
"$IDIM" finetune $FT --out "$T/ft2.json" >/dev/null || fail "finetune (2)"
grep -q "^best: lr" "$T/ft1.txt" || fail "finetune summary lacks the best line"
tr -d '\n\t ' <"$T/ft1.json" >"$T/a"; tr -d '\n\t ' <"$T/ft2.json" >"$T/b"
[ "$(strip "$T/a")" = "$(strip "$T/b")" ] || fail "finetune: two runs differ"
ls "$T" | grep -q tmp && fail "temporary file left behind"
echo "e2e_train: ok"
exit 0
