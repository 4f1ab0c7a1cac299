#!/bin/sh
# idim predict end to end on the in-repo demo task (data/demo, MRPC layout):
# one JSON line per example then the metric line; the same run twice gives
# the same bytes; another batch size gives the same predictions.
IDIM=${IDIM:-./idim}
[ -f data/demo/dev.tsv ] && [ -f data/demo/vocab.txt ] || { echo "e2e_predict: data/demo missing, skipped"; exit 77; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fail() { echo "e2e_predict: $*"; exit 1; }
"$IDIM" init --preset tiny --vocab data/demo/vocab.txt --seed 3 -o "$TMP/m.bin" >/dev/null || fail "init failed"
"$IDIM" predict --model "$TMP/m.bin" --task mrpc --data data/demo --limit 10 --threads 1 >"$TMP/a" || fail "predict failed"
[ "$(wc -l <"$TMP/a")" -eq 11 ] || fail "expected 11 lines, got $(wc -l <"$TMP/a")"
head -n 10 "$TMP/a" | grep -Evq '^\{"index":[0-9]+,"logits":\[-?[0-9.e+-]+,-?[0-9.e+-]+\],"pred":[01],"label":[01]\}$' &&
    fail "bad example line: $(head -n 10 "$TMP/a" | grep -Ev '^\{"index":[0-9]+,"logits"' | head -n 1)"
tail -n 1 "$TMP/a" | grep -q '^{"task":"mrpc","split":"dev","n":10,.*"metric":"accuracy","score":[0-9.]*' ||
    fail "bad metric line: $(tail -n 1 "$TMP/a")"
# pred is the argmax of the logits
awk -F'[][,:}]' 'NR<=10 { a=$5+0; b=$6+0; p=(b>a)?1:0; if (p != $9+0) { print "line " NR ": pred " $9 " but logits " a ", " b; bad=1 } } END { exit bad }' "$TMP/a" ||
    fail "pred is not the argmax"
"$IDIM" predict --model "$TMP/m.bin" --task mrpc --data data/demo --limit 10 --threads 1 >"$TMP/b" || fail "second run failed"
cmp -s "$TMP/a" "$TMP/b" || fail "two identical runs differ"
"$IDIM" predict --model "$TMP/m.bin" --task mrpc --data data/demo --limit 10 --batch 3 >"$TMP/c" || fail "--batch 3 failed"
sed 's/"logits":\[[^]]*\],//' "$TMP/a" >"$TMP/a2"; sed 's/"logits":\[[^]]*\],//' "$TMP/c" >"$TMP/c2"
cmp -s "$TMP/a2" "$TMP/c2" || fail "--batch 3 changed predictions"
echo "e2e_predict: ok"
