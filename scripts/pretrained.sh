#!/bin/sh
# pretrained.sh - `make pretrained`: the best start model measured on this
# machine for a tiny BERT with the bert-base-uncased vocabulary
# (docs/PRETRAIN.md): the tiny preset's random init (seed 0) with its word
# embeddings set from PPMI-SVD word vectors (`idim pretrain --objective
# wordvec`: window 5, the 16,384 most frequent tokens, SVD to 128 dims, std
# 0.0325) of the Debian corpus of scripts/corpus.sh (GCIDE, WordNet glosses,
# kernel documentation) plus SST-2's unlabeled train sentences. With it, full
# fine-tuning on SST-2 beats the same random init; short masked-LM phases made
# it worse, so there are none by default. About 2 minutes to build the corpus
# (apt-get installs its three packages when missing) and 1 minute of CPU for
# the vectors; deterministic (1 thread): two runs give the same bytes.
#
# usage: scripts/pretrained.sh [--preset tiny|mini] [--out DIR] [--task-text-only]
#                              [--mlm-steps N] [--corpus-dir DIR]
#   --preset P        tiny (default: 2 layers, hidden 128, 4.4 M parameters) or
#                     mini (4 layers, hidden 256, 11.2 M): the same recipe, the
#                     vectors cut to the preset's hidden size
#   --out DIR         output folder (default ~/.cache/idim/pretrained/PRESET); the
#                     result is DIR/PRESET-pretrained.bin, its sha256 in
#                     DIR/PRESET-pretrained.sha256
#   --task-text-only  word vectors of SST-2's train sentences alone (the model
#                     of the previous recipe; no Debian packages needed)
#   --mlm-steps N     then N masked-LM steps over the same corpus (batch 64 x
#                     128, lr 1e-3, 2 threads; default 0: measured to hurt
#                     fine-tuning at the budgets tried); resumable
#   --corpus-dir DIR  where scripts/corpus.sh writes (default ~/.cache/idim/corpus)
#   IDIM              the idim binary (default ./idim)
# Exit codes: 0 ok, 2 usage, 3 ../shared data or a corpus package missing, else idim's.
set -eu
IDIM=${IDIM:-./idim}
out=
preset=tiny
cdir="$HOME/.cache/idim/corpus"
mlm=0
task_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --corpus-dir) cdir=$2; shift 2 ;;
    --mlm-steps) mlm=$2; shift 2 ;;
    --task-text-only) task_only=1; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pretrained.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$preset" in tiny|mini) ;; *) echo "pretrained.sh: --preset takes tiny or mini, not '$preset'" >&2; exit 2 ;; esac
[ -n "$out" ] || out="$HOME/.cache/idim/pretrained/$preset"
case "$mlm" in ''|*[!0-9]*) echo "pretrained.sh: --mlm-steps takes a whole number" >&2; exit 2 ;; esac
SH=../shared/data
VOCAB=$SH/tokenizers/bert-base-uncased
SST=$SH/glue/SST-2/train.tsv
[ -f "$VOCAB/vocab.txt" ] || { echo "pretrained.sh: $VOCAB/vocab.txt is missing" >&2; exit 3; }
[ -f "$SST" ] || { echo "pretrained.sh: $SST is missing (the word vectors need SST-2's train text)" >&2; exit 3; }
[ "$(head -1 "$SST" | tr -d '\r')" = "$(printf 'sentence\tlabel')" ] ||
    { echo "pretrained.sh: $SST: expected the header 'sentence<TAB>label'" >&2; exit 3; }
mkdir -p "$out"
# the Debian corpus with SST-2's train sentences (scripts/corpus.sh takes the
# text column only and refuses dev files), built when missing
debian_corpus() {
    [ -f "$cdir/train.txt" ] || scripts/corpus.sh --out "$cdir" --task-text "$SST" || exit $?
}
if [ "$task_only" = 1 ]; then
    # the train sentences only: never the labels, never dev
    corpus="$out/sst2-train-text.txt"
    tail -n +2 "$SST" | cut -f1 >"$corpus.tmp" && mv "$corpus.tmp" "$corpus"
else
    debian_corpus
    corpus="$cdir/train.txt"
    grep -q '^task-text.*SST-2/train.tsv' "$cdir/SOURCES" 2>/dev/null || {
        echo "pretrained.sh: $cdir/train.txt was built without SST-2's train text (see" \
            "$cdir/SOURCES); remove that folder or give another --corpus-dir" >&2
        exit 3
    }
fi
"$IDIM" pretrain --objective wordvec --preset "$preset" --vocab "$VOCAB" --corpus "$corpus" \
    --wv-vocab 16384 --wv-window 5 --wv-power 8 --wv-std 0.0325 --seed 0 --threads 1 \
    --out-dir "$out"
model="$out/wordvec.bin"
if [ "$mlm" -gt 0 ]; then
    debian_corpus
    "$IDIM" pretrain --model "$model" --corpus "$cdir/train.txt" --documents lines \
        --steps "$mlm" --batch 64 --seq-len 128 --lr 1e-3 --dropout 0.1 --seed 0 \
        --checkpoint-every 250 --log-every 25 --threads 2 --out-dir "$out/mlm"
    model=$(ls "$out"/mlm/step-*.bin | sort | tail -1)
fi
res="$preset-pretrained"
cp "$model" "$out/$res.bin.tmp" && mv "$out/$res.bin.tmp" "$out/$res.bin"
(cd "$out" && sha256sum "$res.bin" >"$res.sha256")
echo "pretrained.sh: $out/$res.bin (from $(basename "$model")), sha256 $(cut -c1-16 "$out/$res.sha256")..."
