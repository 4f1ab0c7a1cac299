#!/bin/sh
# e2e_project.sh - `idim project` against an independent numpy recomputation
# (scripts/check_projection.py) for a few tensors, both scopes, DID; the
# tables it writes must also re-derive from the documented generator.
# Exit 0 pass, 77 skip (no numpy), else fail.
IDIM=${IDIM:-./idim}
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { echo "skipped: $PY has no numpy"; exit 77; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
"$IDIM" init --preset tiny --vocab-size 300 -o "$TMP/m.idim" >/dev/null || exit 1
"$PY" -c 'import random; random.seed(3); print("\n".join("%.7g" % random.gauss(0, 1) for _ in range(50)))' > "$TMP/theta.txt"
for t in bert.pooler.dense.bias bert.embeddings.word_embeddings.weight \
         bert.encoder.layer.1.attention.output.LayerNorm.weight; do
    for s in tensor global; do
        "$IDIM" project --model "$TMP/m.idim" --d 50 --theta "$TMP/theta.txt" --tensor "$t" \
            --scope "$s" --proj-seed 9 --tables "$TMP/tab" > "$TMP/u.txt" || exit 1
        "$PY" scripts/check_projection.py --tables "$TMP/tab" --theta "$TMP/theta.txt" \
            --update "$TMP/u.txt" || exit 1
    done
done
# generator check on a small transform (pure-Python xoshiro256**)
"$IDIM" project --model "$TMP/m.idim" --d 50 --theta "$TMP/theta.txt" --proj-seed 9 \
    --tensor bert.pooler.dense.bias --tables "$TMP/tab" > "$TMP/u.txt" || exit 1
"$PY" scripts/check_projection.py --tables "$TMP/tab" --theta "$TMP/theta.txt" \
    --update "$TMP/u.txt" --regen || exit 1
# SAID with d - m values: lambdas 1, d_proj = d - m = 50 for d = 91 (m = 41)
"$IDIM" project --model "$TMP/m.idim" --d 91 --method said --theta "$TMP/theta.txt" \
    --tensor bert.pooler.dense.bias --tables "$TMP/tab" > "$TMP/u.txt" || exit 1
"$PY" scripts/check_projection.py --tables "$TMP/tab" --theta "$TMP/theta.txt" \
    --update "$TMP/u.txt" || exit 1
exit 0
