#!/bin/sh
# lr_steps.sh - the weight-space step per tensor as d grows (docs/LR.md):
# one epoch of DID on the demo task for each (scope, d, optimizer/lr rule),
# `idim train --step-stats`, then the rms step per entry of a large matrix,
# a 64-entry bias and the 2-entry classifier bias, and the mean over all
# weights, beside full fine-tuning (the identity projection == finetune).
# usage: scripts/lr_steps.sh MODEL [OUTDIR]   (prints a Markdown table)
set -e
IDIM=${IDIM:-./idim}
MODEL=$1
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
C="--task mrpc --data data/demo --model $MODEL --method did --epochs 1 --max-len 40 --dropout 0 --threads 1 --quiet"
row() { # label tsv
    awk -F'\t' -v lab="$1" 'NR > 1 { s2 += $3 * $3 / 1; n += $2; ss += ($4 * $4) * $2 }
        $1 == "bert.encoder.layer.0.intermediate.dense.weight" { big = $4 }
        $1 == "bert.encoder.layer.0.attention.self.query.bias" { bias = $4 }
        $1 == "classifier.bias" { cls = $4 }
        END { printf "| %s | %.2e | %.2e | %.2e | %.2e |\n", lab, big, bias, cls, sqrt(ss / n) }' "$2"
}
echo "| run | rms step, ffn matrix (16384) | query bias (64) | classifier bias (2) | all weights |"
echo "|---|---:|---:|---:|---:|"
"$IDIM" train $C --projection identity --optimizer adamw --lr-rule fixed --lr 1e-3 --step-stats "$OUT/id.tsv" >/dev/null
row "full fine-tuning (identity), AdamW lr 1e-3" "$OUT/id.tsv"
for sc in tensor global; do
    for d in 100 1000 10000 32000; do
        "$IDIM" train $C --scope $sc --d $d --lr 3e-3 --optimizer adamw --lr-rule fixed --step-stats "$OUT/f.tsv" >/dev/null
        row "$sc d=$d adamw lr 3e-3, rule fixed" "$OUT/f.tsv"
        "$IDIM" train $C --scope $sc --d $d --lr 3e-3 --optimizer adamw --lr-rule sqrt --step-stats "$OUT/s.tsv" >/dev/null
        row "$sc d=$d adamw lr 3e-3, rule sqrt" "$OUT/s.tsv"
        "$IDIM" train $C --scope $sc --d $d --lr 1e-3 --optimizer adamw --lr-rule weight --step-stats "$OUT/w.tsv" >/dev/null
        row "$sc d=$d adamw lr 1e-3, rule weight" "$OUT/w.tsv"
        "$IDIM" train $C --scope $sc --d $d --lr 3e-3 --lr-rule weight --optimizer adamw-proj \
            --step-stats "$OUT/p.tsv" >/dev/null
        row "$sc d=$d adamw-proj lr 3e-3, rule weight" "$OUT/p.tsv"
    done
done
