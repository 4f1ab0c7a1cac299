#!/bin/sh
# `idim tokenize` against Hugging Face reference ids (tests/fixtures/tok,
# from scripts/ref_tokenize.mjs): every example of MRPC, SST-2 and CoLA dev,
# at max length 128 and at small lengths (truncation on most rows), for
# bert-base-uncased and roberta-base models made with `idim init --vocab`.
# Skips (77) when ../shared is absent.
IDIM=${IDIM:-./idim}
SHARED=../shared/data
if [ ! -d "$SHARED/tokenizers" ] || [ ! -d "$SHARED/glue" ]; then
    echo "e2e_tokenize: skipped: $SHARED is absent"; exit 77
fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
"$IDIM" init --preset tiny --vocab "$SHARED/tokenizers/bert-base-uncased/vocab.txt" \
    -o "$TMP/bert.bin" >/dev/null || { echo "e2e_tokenize: idim init (bert) failed"; exit 1; }
"$IDIM" init --preset tiny --arch roberta --vocab "$SHARED/tokenizers/roberta-base" \
    -o "$TMP/roberta.bin" >/dev/null || { echo "e2e_tokenize: idim init (roberta) failed"; exit 1; }
fail=0; rows=0
check() { # model fixture task maxlen
    "$IDIM" tokenize --model "$TMP/$1.bin" --task "$3" --data "$SHARED/glue" --max-len "$4" \
        > "$TMP/out.jsonl" || { echo "e2e_tokenize: idim tokenize $1 $3 failed"; fail=1; return; }
    sed 's/^{"input_ids":\[\([^]]*\)\].*/\1/; s/,/ /g' "$TMP/out.jsonl" > "$TMP/got"
    n=$(wc -l < "$TMP/got")
    if ! cmp -s "$TMP/got" "tests/fixtures/tok/$2"; then
        d=$(diff "$TMP/got" "tests/fixtures/tok/$2" | grep -c '^<')
        echo "e2e_tokenize: $1 $3 --max-len $4: $d of $n sequences differ from $2"
        diff "$TMP/got" "tests/fixtures/tok/$2" | head -4
        fail=1
    fi
    rows=$((rows + n))
}
for m in bert roberta; do
    check $m $m.mrpc.128.ids mrpc 128
    check $m $m.sst2.128.ids sst2 128
    check $m $m.cola.128.ids cola 128
    check $m $m.mrpc.24.ids mrpc 24
    check $m $m.mrpc.13.ids mrpc 13
    check $m $m.sst2.16.ids sst2 16
    check $m $m.cola.8.ids cola 8
done
# BERT pairs: token type 1 exactly after the first [SEP] (id 102)
"$IDIM" tokenize --model "$TMP/bert.bin" --task mrpc --data "$SHARED/glue" --limit 1 > "$TMP/one"
grep -q '"token_type_ids":\[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1\],"label":1}' "$TMP/one" \
    || { echo "e2e_tokenize: BERT token types of MRPC dev row 1 are wrong"; cat "$TMP/one"; fail=1; }
[ $fail -eq 0 ] && echo "e2e_tokenize: $rows of $rows sequences identical to Hugging Face's"
exit $fail
