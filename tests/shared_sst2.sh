# tests/shared_sst2.sh - sourced by the e2e scripts that need ../shared's
# SST-2 train file and the bert-base-uncased vocabulary:
#     TEST=e2e_name; . tests/shared_sst2.sh
# Sets IDIM, SH, VOCAB, a temp folder T (removed at exit) and fail(); skips
# the test (exit 77) when the data is absent. sst2_tiny writes T/corpus.txt
# (the first 600 train sentences, no labels) and T/init.bin (a tiny random
# BERT with that vocabulary, 64 positions, seed 3).
IDIM=${IDIM:-./idim}
SH=../shared/data
VOCAB=$SH/tokenizers/bert-base-uncased/vocab.txt
if [ ! -f "$SH/glue/SST-2/train.tsv" ] || [ ! -f "$VOCAB" ]; then
    echo "$TEST: ../shared/data (SST-2, bert vocab) absent: skipping"
    exit 77
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "$TEST FAIL: $*"; exit 1; }
sst2_tiny() {
    sed -n '2,601p' "$SH/glue/SST-2/train.tsv" | cut -f1 >"$T/corpus.txt"
    "$IDIM" init --preset tiny --vocab "$VOCAB" --max-pos 64 --seed 3 -o "$T/init.bin" >/dev/null ||
        fail "init"
}
