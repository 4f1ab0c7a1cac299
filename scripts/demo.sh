#!/bin/sh
# demo.sh - `make demo`: measure d90 on the bundled demo task (data/demo).
#
# The demo task is a generated paraphrase task in MRPC's layout
# (scripts/gen_demo.py): a non-paraphrase has an adverb on one side that
# changes what happened ("never", "nearly", "hardly"). Its model is made on
# first use (and again when data/demo changed):
#   1. idim init: a random 1-layer encoder (hidden 64, 2 heads, ffn 256) with
#      the demo vocabulary;
#   2. idim finetune on a related but different generated task
#      (data/demo/pretrain: same grammar, where a non-paraphrase is negated
#      with "never" or has another verb, noun, word order, time or place) for
#      3 epochs, saved without its head: the stand-in for pretraining. It
#      teaches the "never" cue but never shows "nearly" or "hardly".
# then idim measure runs the baseline (full fine-tuning: 1.0) and the d90
# search (DID, bracket from d = 8 doubling, then log-space bisection): a small
# subspace only re-learns the head ("never" alone: ~0.73); teaching the two
# new adverbs the cue takes d ~ 200 (Aghajanyan et al. 2021: pretraining makes
# the intrinsic dimension of fine-tuning small, not 1).
# Everything runs with 2 threads and fixed seeds, so results repeat exactly.
# Environment: IDIM (default ./idim), DEMO_OUT (default out/demo).
set -e
IDIM=${IDIM:-./idim}
OUT=${DEMO_OUT:-out/demo}
MODEL=data/demo/model.idim
THREADS=2
mkdir -p "$OUT"
start=$(date +%s)
if [ ! -f "$MODEL" ] || [ data/demo/vocab.txt -nt "$MODEL" ] \
        || [ data/demo/pretrain/train.tsv -nt "$MODEL" ]; then
    echo "demo: making the demo model $MODEL (random init + 3 epochs on data/demo/pretrain)"
    "$IDIM" init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 \
        --vocab data/demo/vocab.txt --seed 0 -o "$OUT/random.idim" >/dev/null
    "$IDIM" finetune --task mrpc --data data/demo/pretrain --model "$OUT/random.idim" \
        --lr 1e-3 --epochs 3 --max-len 40 --dropout 0 --threads $THREADS --quiet \
        --save-model "$MODEL" >/dev/null
fi
echo "demo: idim measure --task mrpc --data data/demo --model $MODEL --method did ..."
"$IDIM" measure --task mrpc --data data/demo --model "$MODEL" --method did \
    --dmin 8 --dmax 10000 --precision 1.25 --seeds 1 --optimizer adamw --lr-rule fixed \
    --lr 2e-2 --epochs 6 \
    --baseline-lr 1e-3 --baseline-epochs 4 --max-len 40 --threads $THREADS --quiet \
    --out "$OUT/report.json" --plot "$OUT/probes.svg"
end=$(date +%s)
echo "demo: report $OUT/report.json, plot $OUT/probes.svg; total $((end - start)) s"
