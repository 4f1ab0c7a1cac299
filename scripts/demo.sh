#!/bin/sh
# demo.sh - `make demo`: measure d90 on the bundled demo task (data/demo).
#
# The demo task is a generated paraphrase task in MRPC's layout
# (scripts/gen_demo.py). Its model is made on first use:
#   1. idim init: a random 1-layer encoder (hidden 64, 2 heads, ffn 256) with
#      the demo vocabulary;
#   2. idim finetune on a related generated task (data/demo/pretrain: same
#      grammar, other sentences) for 3 epochs, saved without its head: the
#      stand-in for pretraining, which is what makes the intrinsic dimension
#      small (Aghajanyan et al. 2021);
# then idim measure runs the baseline (full fine-tuning) and the d90 search
# (DID, bracket + log-space bisection) and prints the summary with d90.
# Everything runs with 2 threads, so results repeat exactly.
# Environment: IDIM (default ./idim), DEMO_OUT (default out/demo).
set -e
IDIM=${IDIM:-./idim}
OUT=${DEMO_OUT:-out/demo}
MODEL=data/demo/model.bin
THREADS=2
mkdir -p "$OUT"
start=$(date +%s)
if [ ! -f "$MODEL" ]; then
    echo "demo: making the demo model $MODEL (random init + 3 epochs on data/demo/pretrain)"
    "$IDIM" init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 \
        --vocab data/demo/vocab.txt --seed 0 -o "$OUT/random.bin" >/dev/null
    "$IDIM" finetune --task mrpc --data data/demo/pretrain --model "$OUT/random.bin" \
        --lr 1e-3 --epochs 3 --max-len 48 --dropout 0 --threads $THREADS --quiet \
        --save-model "$MODEL" >/dev/null
fi
echo "demo: idim measure --task mrpc --data data/demo --model $MODEL --method did ..."
"$IDIM" measure --task mrpc --data data/demo --model "$MODEL" --method did \
    --dmin 1 --dmax 1000 --precision 1.1 --seeds 3 --lr 3e-2 --epochs 3 \
    --baseline-lr 1e-3 --baseline-epochs 4 --max-len 48 --threads $THREADS --quiet \
    --out "$OUT/report.json" --plot "$OUT/probes.svg"
end=$(date +%s)
echo "demo: report $OUT/report.json, plot $OUT/probes.svg; total $((end - start)) s"
