#!/bin/sh
# recipe_eval.sh RUN_DIR [LRS] [D]: the quick evaluation behind docs/PRETRAIN.md's
# recipe table. Converts RUN_DIR/hf (written by scripts/pretrain_recipe.py) to an
# idim model, fine-tunes it fully on 8,000 SST-2 train examples for one epoch at
# each learning rate in LRS (default 1e-4,3e-4,1e-3; full dev set, max-len 64), and
# runs one subspace probe (DID, d = D, default 1000, same data, lr 3e-3). One thread.
# Results: RUN_DIR/ft.json, RUN_DIR/did.json, one summary line on stdout.
set -eu
run=$1; lrs=${2:-1e-4,3e-4,1e-3}; d=${3:-1000}
IDIM=${IDIM:-./idim}; DATA=${IDIM_DATA:-../shared/data/glue}
[ -f "$run/model.bin" ] || "$IDIM" convert --hf "$run/hf" -o "$run/model.bin" >/dev/null
nice -n 10 "$IDIM" finetune --task sst2 --data "$DATA" --model "$run/model.bin" --lr "$lrs" \
    --epochs 1 --limit-train 8000 --max-len 64 --threads 1 --quiet --out "$run/ft.json" > "$run/ft.log" 2>&1
nice -n 10 "$IDIM" train --task sst2 --data "$DATA" --model "$run/model.bin" --d "$d" --method did \
    --epochs 1 --limit-train 8000 --max-len 64 --threads 1 --quiet > "$run/did.json" 2> "$run/did.log"
echo "$run: $(grep -h '^lr\|^best' "$run/ft.log" | tr '\n' ' ') | DID d=$d: $(grep -o '"best":[^,]*' "$run/did.json")"
