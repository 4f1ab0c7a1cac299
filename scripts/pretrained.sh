#!/bin/sh
# pretrained.sh - `make pretrained`: a pretrained tiny BERT with the
# bert-base-uncased vocabulary, from the Debian corpus (scripts/corpus.sh,
# plus SST-2's unlabeled train sentences when ../shared has them), by
# `idim pretrain` with a fixed recipe, 2 threads, so the same machine type
# gives the same bytes. Resumable: run it again after an interruption.
#
# usage: scripts/pretrained.sh [--out DIR] [--corpus-dir DIR] [--steps N]
#   --out DIR         run folder (default ~/.cache/idim/pretrained/tiny); the
#                     result is DIR/tiny-pretrained.bin (a copy of the last
#                     checkpoint), the learning curve DIR/log.jsonl
#   --corpus-dir DIR  where scripts/corpus.sh writes (default ~/.cache/idim/corpus)
#   --steps N         optimizer steps (default 2000: batch 64 x 128 tokens,
#                     16.4 M tokens; about 1.5 h on 2 idle cores of this machine)
#   IDIM              the idim binary (default ./idim)
# The recipe (masked LM, lr 1e-3, warm-up 6%, batch 64 x 128, dropout 0.1,
# seed 0) is the one README's "Pretraining" section gives with its figures.
set -eu
IDIM=${IDIM:-./idim}
out="$HOME/.cache/idim/pretrained/tiny"
cdir="$HOME/.cache/idim/corpus"
steps=2000
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --corpus-dir) cdir=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pretrained.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
SH=../shared/data
VOCAB=$SH/tokenizers/bert-base-uncased
[ -f "$VOCAB/vocab.txt" ] || { echo "pretrained.sh: $VOCAB/vocab.txt is missing" >&2; exit 3; }
if [ ! -f "$cdir/train.txt" ]; then
    if [ -f "$SH/glue/SST-2/train.tsv" ]; then
        scripts/corpus.sh --out "$cdir" --task-text "$SH/glue/SST-2/train.tsv"
    else
        scripts/corpus.sh --out "$cdir"
    fi
fi
"$IDIM" pretrain --preset tiny --vocab "$VOCAB" --corpus "$cdir/train.txt" --documents lines \
    --steps "$steps" --batch 64 --seq-len 128 --lr 1e-3 --dropout 0.1 --seed 0 \
    --checkpoint-every 250 --log-every 25 --threads 2 --out-dir "$out"
last=$(ls "$out"/step-*.bin | sort | tail -1)
cp "$last" "$out/tiny-pretrained.bin.tmp" && mv "$out/tiny-pretrained.bin.tmp" "$out/tiny-pretrained.bin"
echo "pretrained.sh: $out/tiny-pretrained.bin ($(basename "$last")); learning curve in $out/log.jsonl"
