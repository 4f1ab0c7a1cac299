#!/bin/sh
# --task custom end to end: a small TSV task with string labels, built from
# the demo task's columns, through finetune, train (+ --save-theta), eval,
# predict, sweep and measure; and the usage errors of the custom flags.
IDIM=${IDIM:-./idim}
[ -f data/demo/train.tsv ] && [ -f data/demo/dev.tsv ] && [ -f data/demo/vocab.txt ] ||
    { echo "e2e_custom: data/demo missing, skipped"; exit 77; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fail() { echo "e2e_custom: $*"; exit 1; }
# columns renamed, label strings instead of 0/1, label column last
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { print "first", "second", "verdict"; next }
    NR <= 201 { print $4, $5, ($1 == 1 ? "same" : "diff") }' data/demo/train.tsv >"$TMP/train.tsv"
awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { print "first", "second", "verdict"; next }
    NR <= 41 { print $4, $5, ($1 == 1 ? "same" : "diff") }' data/demo/dev.tsv >"$TMP/dev.tsv"
C="--task custom --train $TMP/train.tsv --dev $TMP/dev.tsv --text-cols first,second --label-col verdict"
Q="--max-len 40 --threads 2"
"$IDIM" init --preset tiny --vocab data/demo/vocab.txt --seed 3 -o "$TMP/m.bin" >/dev/null || fail "init failed"

# finetune: one summary line per lr, the best line, the JSON names the task
"$IDIM" finetune --model "$TMP/m.bin" $C $Q --epochs 1 --limit-train 64 --lr 1e-3 --out "$TMP/ft.json" \
    >"$TMP/ft" || fail "finetune failed"
grep -q '^lr 0.001: best accuracy [0-9.]* at epoch 1 of 1' "$TMP/ft" || fail "finetune output: $(cat "$TMP/ft")"
grep -q '^best: lr 0.001, accuracy' "$TMP/ft" || fail "finetune best line: $(cat "$TMP/ft")"
grep -q '"task":[[:space:]]*"custom"' "$TMP/ft.json" || fail "finetune --out lacks task custom"
grep -q '"n_train":[[:space:]]*64,' "$TMP/ft.json" || fail "finetune --out: n_train is not 64"
grep -q '"n_dev":[[:space:]]*40,' "$TMP/ft.json" || fail "finetune --out: n_dev is not 40"

# train: one JSON line; the theta reproduces under eval with the same flags
"$IDIM" train --model "$TMP/m.bin" $C $Q --d 50 --method did --epochs 1 --save-theta "$TMP/t.theta" \
    >"$TMP/tr" || fail "train failed"
grep -q '^{"idim_version":"[^"]*","task":"custom","metric":"accuracy","method":"did","d":50,' "$TMP/tr" ||
    fail "train output: $(cat "$TMP/tr")"
grep -q '"n_train":200,"n_dev":40,' "$TMP/tr" || fail "train: wrong example counts: $(cat "$TMP/tr")"
"$IDIM" eval --model "$TMP/m.bin" --theta "$TMP/t.theta" $C --threads 2 >"$TMP/ev" || fail "eval failed"
grep -q '^{"task":"custom",.*"reproduced":true' "$TMP/ev" || fail "eval output: $(cat "$TMP/ev")"
"$IDIM" eval --model "$TMP/m.bin" --theta "$TMP/t.theta" --task mrpc --data data/demo 2>"$TMP/err" >/dev/null
rc=$?; [ $rc -eq 2 ] && grep -q 'trained on a custom task' "$TMP/err" ||
    fail "eval of a custom theta without --task custom: rc $rc, $(cat "$TMP/err")"

# predict: one line per example with string labels mapped to ids (diff 0, same 1)
"$IDIM" predict --model "$TMP/m.bin" $C $Q --limit 5 >"$TMP/pr" || fail "predict failed"
[ "$(wc -l <"$TMP/pr")" -eq 6 ] || fail "predict: expected 6 lines, got $(wc -l <"$TMP/pr")"
want=$(awk -F'\t' 'NR > 1 && NR <= 6 { printf "%d", ($3 == "same") }' "$TMP/dev.tsv")
got=$(head -n 5 "$TMP/pr" | sed -n 's/.*"label":\([01]\)}$/\1/p' | tr -d '\n')
[ "$want" = "$got" ] || fail "predict labels $got, file says $want"
tail -n 1 "$TMP/pr" | grep -q '^{"task":"custom","split":"dev","n":5,.*"metric":"accuracy","score":' ||
    fail "predict metric line: $(tail -n 1 "$TMP/pr")"
# the dev file alone is enough for predict
"$IDIM" predict --model "$TMP/m.bin" --task custom --dev "$TMP/dev.tsv" --text-cols 0,1 --label-col 2 \
    $Q --limit 5 >"$TMP/pr2" || fail "predict with --dev and column numbers failed"
cmp -s "$TMP/pr" "$TMP/pr2" || fail "column numbers give other predictions than names"

# sweep and measure (the baseline is given: no fine-tuning)
"$IDIM" sweep --model "$TMP/m.bin" $C $Q --d 10,20 --no-baseline --method did --epochs 1 \
    --limit-train 32 --quiet >"$TMP/sw" || fail "sweep failed"
[ "$(grep -c '^ *[12]0 ' "$TMP/sw")" -eq 2 ] || fail "sweep output: $(cat "$TMP/sw")"
"$IDIM" measure --model "$TMP/m.bin" $C $Q --baseline 0.1 --method did --dmin 8 --dmax 16 --epochs 1 \
    --limit-train 32 --quiet --out "$TMP/r.json" >"$TMP/me" 2>"$TMP/err"
rc=$?   # 5: no d met the target (a tiny random model mostly predicts one class)
[ $rc -eq 0 ] || [ $rc -eq 5 ] || fail "measure failed (rc $rc): $(cat "$TMP/err")"
grep -q '^task custom, metric accuracy' "$TMP/me" || fail "measure output: $(cat "$TMP/me")"
grep -q '"task":[[:space:]]*"custom"' "$TMP/r.json" || fail "measure report lacks task custom"

# usage errors (exit 2)
for cmd in "finetune --model $TMP/m.bin --task mrpc --data data/demo --text-cols first" \
    "train --model $TMP/m.bin --task mrpc --d 5 --train $TMP/train.tsv" \
    "predict --model $TMP/m.bin --task mrpc --label-col verdict" \
    "measure --model $TMP/m.bin --task mrpc --metric f1" \
    "sweep --model $TMP/m.bin --task mrpc --format tsv" \
    "eval --model $TMP/m.bin --theta $TMP/t.theta --task mrpc --dev $TMP/dev.tsv"; do
    # shellcheck disable=SC2086
    "$IDIM" $cmd >/dev/null 2>"$TMP/err"; rc=$?
    [ $rc -eq 2 ] && grep -q 'go with --task custom' "$TMP/err" || fail "idim $cmd: rc $rc, $(cat "$TMP/err")"
done
"$IDIM" train --model "$TMP/m.bin" --task custom --train "$TMP/train.tsv" --text-cols first \
    --label-col verdict --d 5 >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'needs --train FILE and --dev FILE' "$TMP/err" || fail "train without --dev: rc $rc, $(cat "$TMP/err")"
echo "e2e_custom: ok"
