#!/bin/sh
# scripts/corpus.py (the cleaning behind scripts/corpus.sh) on tiny fixtures
# shaped like the Debian files (tests/fixtures/corpus): the documents it keeps
# are exactly the hand-written expectation below (markup, pronunciations,
# etymologies, code blocks, tables, headings, translations and labels gone;
# duplicates dropped), two runs give the same bytes, the held-out slice
# partitions the documents, dev text is refused. No apt-get here.
# Skips (77) without python3.
command -v python3 >/dev/null || { echo "e2e_corpus: skipped: python3 is absent"; exit 77; }
F=tests/fixtures/corpus
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
gzip -nc "$F/gcide.txt" > "$TMP/gcide.dict.dz"
run() { # out-dir holdout-permille
    python3 scripts/corpus.py --gcide "$TMP/gcide.dict.dz" --wordnet "$F/wordnet" \
        --linux-doc "$F/linux-doc/Documentation" --task-text "$F/train.tsv" \
        --holdout-permille "$2" --out "$1" > "$TMP/stdout" 2>&1
}
fail=0
run "$TMP/a" 0 || { echo "e2e_corpus: corpus.py failed"; cat "$TMP/stdout"; exit 1; }
cat > "$TMP/expected" <<'DOCS'
A bulleted item that is long enough to count as a sentence of prose here.
Cafe: A coffeehouse; a restaurant serving the cafe au lait of the house.
Feeler: One who, or that which, feels. (Zool.) One of the sense organs of certain insects, used in testing objects by touch; an antenna; a palp. Insects... perpetually feeling and searching before them with their feelers or antennae.
The scheduler decides which task runs next on each processor, and it tries to be fair to every runnable task in the system.
able: (usually followed by `to') having the necessary means or skill to do something; able to swim.
breathe: draw air into, and expel out of, the lungs; I can breathe better when the air is clean.
hardly: only a very short time before; we had hardly finished when it rained.
it is a charming and often affecting journey
kill: the destruction of an enemy plane or ship or tank or missile; the pilot reported two kills during the mission.
laying waste, ruin: destruction achieved by causing something to be wrecked or ruined.
unflinchingly bleak and desperate
DOCS
# layout: document lines alternate with blank lines
awk 'NR % 2 == 1 && $0 == "" || NR % 2 == 0 && $0 != "" { bad = 1 } END { exit bad }' "$TMP/a/train.txt" \
    || { echo "e2e_corpus: train.txt is not one document per blank-line-separated block"; fail=1; }
grep -v '^$' "$TMP/a/train.txt" | LC_ALL=C sort > "$TMP/got"
if ! cmp -s "$TMP/got" "$TMP/expected"; then
    echo "e2e_corpus: kept documents differ from the expectation:"; diff "$TMP/got" "$TMP/expected"; fail=1
fi
run "$TMP/b" 0 && cmp -s "$TMP/a/train.txt" "$TMP/b/train.txt" \
    || { echo "e2e_corpus: a second run gave different bytes"; fail=1; }
grep -q "sha256 $(sha256sum < "$TMP/a/train.txt" | cut -c1-64)" "$TMP/a/SOURCES" \
    || { echo "e2e_corpus: SOURCES lacks the sha256 of train.txt"; fail=1; }
grep -q "gcide.*	3	1	2	" "$TMP/a/SOURCES" \
    || { echo "e2e_corpus: SOURCES does not count gcide's duplicate"; cat "$TMP/a/SOURCES"; fail=1; }
# a held-out slice: disjoint, together the same documents
run "$TMP/h" 500 || { echo "e2e_corpus: --holdout-permille 500 failed"; fail=1; }
nt=$(grep -c . "$TMP/h/train.txt"); nh=$(grep -c . "$TMP/h/heldout.txt")
cat "$TMP/h/train.txt" "$TMP/h/heldout.txt" | grep -v '^$' | LC_ALL=C sort > "$TMP/both"
{ [ "$nt" -gt 0 ] && [ "$nh" -gt 0 ] && cmp -s "$TMP/both" "$TMP/expected"; } \
    || { echo "e2e_corpus: held-out split is not a partition (train $nt, held-out $nh)"; fail=1; }
# dev text and unknown columns are refused, with no output
python3 scripts/corpus.py --task-text "$F/dev.tsv" --out "$TMP/dev" 2> "$TMP/err"; rc=$?
{ [ $rc -eq 3 ] && grep -q 'dev.tsv: only a task' "$TMP/err" && [ ! -e "$TMP/dev/train.txt" ]; } \
    || { echo "e2e_corpus: dev.tsv was not refused (rc $rc)"; cat "$TMP/err"; fail=1; }
python3 scripts/corpus.py --task-text "$F/train.tsv:label" --out "$TMP/lab" 2> "$TMP/err"; rc=$?
{ [ $rc -eq 3 ] && grep -q 'label columns never' "$TMP/err"; } \
    || { echo "e2e_corpus: a label column was accepted (rc $rc)"; fail=1; }
[ $fail -eq 0 ] && echo "e2e_corpus: 11 documents as expected, deterministic, held-out slice, dev refused"
exit $fail
