#!/bin/sh
# e2e_measure.sh - idim measure on the demo task (data/demo), small settings:
#   1. two identical runs give the same d90 and the same probes;
#   2. kill -9 in the middle of a run with --state, then the same command with
#      --state: finished runs are skipped and d90 + probes equal the
#      uninterrupted run's;
#   3. a state file from different arguments is refused (exit 2);
#   4. no d up to --dmax: exit 5, report still written with "d90": null;
#   5. idim check passes against the report itself, fails (exit 6) against a
#      doubled expectation;
#   6. the reports validate against docs/report.schema.json (needs Debian's
#      python3-jsonschema; without it the test ends with 77 = skipped after
#      the other checks passed).
# The model: a random 1-layer encoder fine-tuned 3 epochs on data/demo/pretrain
# (as scripts/demo.sh does). Nothing here depends on how well it learns: the
# checks compare runs with each other, exactly.
IDIM=${IDIM:-./idim}
"$IDIM" measure --help >/dev/null 2>&1 || { echo "e2e_measure: $IDIM has no measure command"; exit 77; }
[ -f data/demo/train.tsv ] || { echo "e2e_measure: data/demo missing"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_measure FAIL: $*"; exit 1; }

. tests/demo_model.sh
demo_model "$T"

# The search: a given baseline of 0.1 makes every valid probe (not
# majority-only) meet the target, so the result does not hang on how well
# this tiny model learns; 3 projection seeds x 2 learning rates give enough
# runs to kill one in the middle.
run() { # run OUT.json [extra args]: the measure command, summary to OUT.txt
    out=$1; shift
    $EXEC "$IDIM" measure --task mrpc --data data/demo --model "$T/m.bin" --method did --dmin 1 \
        --dmax 4096 --precision 1.2 --baseline 0.1 --seeds 3 --lr 3e-2,1e-1 --epochs 1 \
        --limit-train 600 --limit-dev 150 --max-len 48 --threads 1 --quiet --out "$out" "$@" \
        > "${out%.json}.txt"
}
EXEC=""
summary() { grep -E '^(proj seed|d90|baseline)' "$1"; }
# every probe's d, lr and metric as printed in the JSON (exact digits)
probes() { sed -n '/"probes"/,$p' "$1" | grep -E '"(d|lr|metric|proj_seed)":'; }

# 1. two identical runs
run "$T/a.json" || fail "run a: exit $?"
run "$T/a2.json" || fail "run a2: exit $?"
summary "$T/a.txt" > "$T/a.sum"; summary "$T/a2.txt" > "$T/a2.sum"
grep -q '^d90 = ' "$T/a.sum" || fail "no d90 in the summary: $(cat "$T/a.txt")"
cmp -s "$T/a.sum" "$T/a2.sum" || fail "two identical runs differ: $(diff "$T/a.sum" "$T/a2.sum")"
probes "$T/a.json" > "$T/a.pr"; probes "$T/a2.json" > "$T/a2.pr"
cmp -s "$T/a.pr" "$T/a2.pr" || fail "two identical runs differ in the probes"
n_probes=$(grep -o 'd=[0-9]*:' "$T/a.sum" | wc -l)
echo "e2e_measure: identical runs agree: $(grep '^d90' "$T/a.sum") ($n_probes probes)"

# 2. kill -9 mid-run, resume with --state
# EXEC=exec: the background subshell becomes idim itself, so kill -9 hits it.
EXEC=exec run "$T/b.json" --state "$T/s.state" &
pid=$!
i=0
# the state file's trial count: u32 at byte 20 (docs/MEASURE.md)
n_trials() { n=$(od -An -t u4 -j 20 -N 4 "$T/s.state" 2>/dev/null | tr -d ' '); echo "${n:-0}"; }
while [ "$(n_trials)" -lt 2 ]; do
    kill -0 $pid 2>/dev/null || break
    sleep 0.02; i=$((i + 1)); [ $i -lt 6000 ] || fail "state file never got 2 runs"
done
kill -9 $pid 2>/dev/null; wait $pid; rc=$?
[ $rc -eq 137 ] || fail "the run ended (exit $rc) before it could be killed; the test needs a longer search"
done_before=$(n_trials)
[ -f "$T/b.json" ] && fail "a killed run left a report"
run "$T/b.json" --state "$T/s.state" || fail "resumed run: exit $?"
summary "$T/b.txt" > "$T/b.sum"
cmp -s "$T/a.sum" "$T/b.sum" || fail "resumed run differs: $(diff "$T/a.sum" "$T/b.sum")"
probes "$T/b.json" > "$T/b.pr"
cmp -s "$T/a.pr" "$T/b.pr" || fail "resumed run differs in the probes"
grep -q '"resumed":[[:space:]]*true' "$T/b.json" || fail "no probe marked resumed"
echo "e2e_measure: killed after $done_before finished runs; the resumed run agrees"

# 3. a state from other arguments is refused
run "$T/c.json" --state "$T/s.state" --epochs 2 2> "$T/c.err"; rc=$?
[ $rc -eq 2 ] || fail "a foreign state file: exit $rc, expected 2"
grep -q 'different command' "$T/c.err" || fail "foreign state message: $(cat "$T/c.err")"
# ... also one written with the default random batches, resumed with bucket
run "$T/c.json" --state "$T/s.state" --batching bucket 2> "$T/c.err"; rc=$?
[ $rc -eq 2 ] || fail "a state of random batches resumed with --batching bucket: exit $rc"
grep -q 'different command' "$T/c.err" || fail "batching state message: $(cat "$T/c.err")"
grep -q '"batching":[[:space:]]*"random"' "$T/a.json" || fail "report lacks search.batching"

# 4. not reached (threshold 1.5 x a fine-tuned baseline is out of reach):
#    exit 5, report written with d90 null
"$IDIM" measure --task mrpc --data data/demo --model "$T/m.bin" --method did --dmin 1 --dmax 2 \
    --baseline-lr 1e-3 --baseline-epochs 1 --threshold 1.5 --lr 3e-2 --epochs 1 \
    --limit-train 300 --limit-dev 100 --max-len 48 --threads 1 --quiet --out "$T/n.json" \
    > "$T/n.txt" 2> "$T/n.err"; rc=$?
[ $rc -eq 5 ] || fail "not reached: exit $rc, expected 5"
grep -q '"d90":[[:space:]]*null' "$T/n.json" || fail "not-reached report lacks \"d90\": null"
grep -q 'best_probe' "$T/n.json" || fail "not-reached report lacks best_probe"

# 4b. the baseline guard: the random (not pretrained) model, fine-tuned at a
#     tiny lr, stays at the majority class: exit 3 before any search, with
#     the reason and the ways on; --force searches anyway (with a note).
G="--task mrpc --data data/demo --model $T/random.bin --method did --dmin 4 --dmax 8
   --baseline-lr 1e-7 --baseline-epochs 1 --lr 3e-2 --epochs 1 --limit-train 64 --limit-dev 64
   --max-len 48 --threads 1 --quiet"
"$IDIM" measure $G --out "$T/g.json" > "$T/g.txt" 2> "$T/g.err"; rc=$?
[ $rc -eq 3 ] || fail "guard: exit $rc, expected 3: $(cat "$T/g.err")"
grep -q 'not clearly above the majority class' "$T/g.err" || fail "guard message: $(cat "$T/g.err")"
grep -q -- '--baseline VALUE' "$T/g.err" && grep -q -- '--force' "$T/g.err" \
    || fail "guard message lacks the ways on: $(cat "$T/g.err")"
[ -f "$T/g.json" ] && fail "the guard left a report"
"$IDIM" measure $G --force --out "$T/g.json" > "$T/g.txt" 2> "$T/g.err"; rc=$?
[ $rc -eq 0 ] || [ $rc -eq 5 ] || fail "guard --force: exit $rc: $(cat "$T/g.err")"
grep -q 'not clearly above the majority class' "$T/g.json" || fail "--force report lacks the note"

# 4c. --dry-run: the plan and a time estimate from a few real steps; no
#     training beyond them, no report, no state file
"$IDIM" measure --task mrpc --data data/demo --model "$T/m.bin" --method did --dmin 8 --dmax 1000 \
    --lr 2e-2 --epochs 2 --baseline-lr 1e-3 --baseline-epochs 1 --max-len 48 --threads 1 \
    --dry-run --out "$T/dry.json" --state "$T/dry.state" > "$T/dry.txt" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "--dry-run: exit $rc: $(cat "$T/dry.txt")"
grep -q 'estimated wall time: [0-9]* s to [0-9]* s' "$T/dry.txt" || fail "--dry-run output: $(cat "$T/dry.txt")"
grep -q 'at most 8' "$T/dry.txt" || fail "--dry-run bracket count (8, 16, ..., 1000): $(cat "$T/dry.txt")"
[ -e "$T/dry.json" ] || [ -e "$T/dry.state" ] && fail "--dry-run wrote a report or a state"

# 4d. auto epochs: a large task (sst2 here, as qnli, qqp, mnli) gets one epoch
#     for the baseline and for each subspace run, a small one 3 and 20; the
#     plan says so, and the state file's key carries the numbers that ran
#     (a state of the old rule, 3 epochs on sst2, had "epochs=0
#     baseline-epochs=3"), so runs of other lengths are refused
mkdir -p "$T/glue/SST-2"
printf 'sentence\tlabel\n' > "$T/glue/SST-2/train.tsv"; printf 'sentence\tlabel\n' > "$T/glue/SST-2/dev.tsv"
tail -n +2 data/demo/train.tsv | head -64 | cut -f1,4 | awk -F'\t' '{ print $2 "\t" $1 }' >> "$T/glue/SST-2/train.tsv"
tail -n +2 data/demo/dev.tsv | head -16 | cut -f1,4 | awk -F'\t' '{ print $2 "\t" $1 }' >> "$T/glue/SST-2/dev.tsv"
sst() { "$IDIM" measure --task sst2 --data "$T/glue" --model "$T/m.bin" --method did --dmin 8 --dmax 16 \
    --lr 2e-2 --baseline-lr 1e-3 --max-len 40 --threads 1 --quiet "$@"; }
sst --dry-run > "$T/sst.txt" 2>&1 || fail "sst2 --dry-run: $(cat "$T/sst.txt")"
grep -q 'baseline: 1 full fine-tuning run x 1 epochs = 2 steps' "$T/sst.txt" \
    || fail "sst2 auto baseline epochs (1 on a large task): $(cat "$T/sst.txt")"
grep -q 'a subspace run: 1 epochs = 2 steps' "$T/sst.txt" \
    || fail "sst2 auto subspace epochs (1 on a large task): $(cat "$T/sst.txt")"
sst --baseline 0.1 --state "$T/sst.state" > "$T/sst.out" 2>&1 || fail "sst2 measure: $(cat "$T/sst.out")"
grep -aq ' epochs=1 baseline-epochs=1 ' "$T/sst.state" || fail "sst2 state key: $(head -c 400 "$T/sst.state" | tr -c '[:print:]' .)"
sst --baseline 0.1 --state "$T/sst.state" --epochs 3 --baseline-epochs 3 > "$T/old.out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q 'different command' "$T/old.out" \
    || fail "a state of 1-epoch sst2 runs resumed with 3 epochs: exit $rc: $(cat "$T/old.out")"
"$IDIM" measure --task mrpc --data data/demo --model "$T/m.bin" --method did --dmin 8 --dmax 16 \
    --lr 2e-2 --baseline-lr 1e-3 --max-len 40 --threads 1 --dry-run > "$T/mr.txt" 2>&1 || fail "mrpc dry-run"
grep -q 'x 3 epochs = ' "$T/mr.txt" && grep -q 'a subspace run: 20 epochs' "$T/mr.txt" \
    || fail "mrpc auto epochs (3 baseline, 20 subspace): $(cat "$T/mr.txt")"

# 5. idim check
"$IDIM" check --expected "$T/a.json" --report "$T/b.json" --tolerance 0 >/dev/null \
    || fail "check against itself"
d90=$(sed -n 's/^d90 = \([0-9.]*\).*/\1/p' "$T/a.sum")
echo "{\"d90\": $(awk -v d="$d90" 'BEGIN { print 2 * d }')}" > "$T/double.json"
"$IDIM" check --expected "$T/double.json" --report "$T/a.json" 2> "$T/check.err"; rc=$?
[ $rc -eq 6 ] || fail "check against a doubled expectation: exit $rc, expected 6"
grep -q 'check failed' "$T/check.err" || fail "check message: $(cat "$T/check.err")"

# 6. schema
/usr/bin/python3 scripts/validate_report.py "$T/a.json" "$T/b.json" "$T/n.json"; rc=$?
if [ $rc -eq 77 ]; then
    echo "e2e_measure: schema check skipped: install python3-jsonschema (Debian) to run it"
    exit 77
fi
[ $rc -eq 0 ] || fail "report does not match docs/report.schema.json"
echo "e2e_measure: ok"
