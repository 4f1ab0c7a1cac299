# demo_model.sh - sourced by e2e tests: demo_model DIR writes DIR/m.bin, the
# demo's stand-in for a pretrained model (a random 1-layer encoder
# fine-tuned 3 epochs on data/demo/pretrain, as scripts/demo.sh makes it,
# with --max-len 48). Needs IDIM and a fail() function.
demo_model() {
    "$IDIM" init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 \
        --vocab data/demo/vocab.txt -o "$1/random.bin" >/dev/null || fail "idim init"
    "$IDIM" finetune --task mrpc --data data/demo/pretrain --model "$1/random.bin" --lr 1e-3 \
        --epochs 3 --max-len 48 --dropout 0 --threads 1 --quiet --save-model "$1/m.bin" \
        >/dev/null || fail "idim finetune --save-model"
}
