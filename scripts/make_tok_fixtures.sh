#!/bin/sh
# Regenerates tests/fixtures/tok/*.ids: reference token ids from
# @huggingface/transformers (scripts/ref_tokenize.mjs) for every example of
# MRPC, SST-2 and CoLA dev at max length 128, the same at small max lengths
# (truncation on most rows), and the hand-made edge cases.
# Needs ../shared/data (or SHARED=...) and, once: cd scripts/ref && npm ci --ignore-scripts
set -e
SHARED=${SHARED:-../shared/data}
OUT=tests/fixtures/tok
G=$SHARED/glue
/usr/bin/python3 scripts/make_tok_edge.py
for m in bert-base-uncased roberta-base; do
    s=${m%%-*}
    M=$SHARED/tokenizers/$m
    ref() { node scripts/ref_tokenize.mjs --model "$M" "$@"; }
    ref --tsv $G/MRPC/dev.tsv --cols 3,4 --max-length 128 > $OUT/$s.mrpc.128.ids
    ref --tsv $G/SST-2/dev.tsv --cols 0 --max-length 128 > $OUT/$s.sst2.128.ids
    ref --tsv $G/CoLA/dev.tsv --cols 3 --no-header --max-length 128 > $OUT/$s.cola.128.ids
    ref --tsv $G/MRPC/dev.tsv --cols 3,4 --max-length 24 > $OUT/$s.mrpc.24.ids
    ref --tsv $G/MRPC/dev.tsv --cols 3,4 --max-length 13 > $OUT/$s.mrpc.13.ids
    ref --tsv $G/SST-2/dev.tsv --cols 0 --max-length 16 > $OUT/$s.sst2.16.ids
    ref --tsv $G/CoLA/dev.tsv --cols 3 --no-header --max-length 8 > $OUT/$s.cola.8.ids
    ref --lines $OUT/edge.txt --max-length 512 > $OUT/$s.edge.512.ids
    ref --lines $OUT/edge.txt --max-length 9 > $OUT/$s.edge.9.ids
done
