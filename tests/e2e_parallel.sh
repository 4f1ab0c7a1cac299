#!/bin/sh
# e2e_parallel.sh - runs on several slots give what one slot gives.
#   1. `idim measure --jobs 1`, `--jobs 3` and (when idim is built with Open
#      MPI and mpirun exists) `mpirun -np 3 idim measure`, all with
#      --threads-per-run 1: the same d90 and, bit for bit, the same baseline
#      and probe metrics (the parallel search is speculative; the path it
#      reports is the sequential one);
#   2. kill -9 of a forked worker in the middle of a run: the worker is
#      started again and the search ends with the same d90 and probes;
#   3. kill -9 of MPI rank 1 in the middle of the search: mpirun ends the
#      job; the same command again with --state resumes and ends with the
#      same d90 and probes;
#   4. the baseline guard stops a parallel search after the baseline;
#   5. `idim sweep --jobs 2` prints the rows `--jobs 1` prints.
# Small settings (the demo task, 600 training examples, 1 epoch; baseline
# fine-tuned in the run): d90 = 21 after 9 probes.
IDIM=${IDIM:-./idim}
"$IDIM" measure --help 2>/dev/null | grep -q -- '--jobs' || { echo "e2e_parallel: $IDIM has no --jobs"; exit 77; }
[ -f data/demo/train.tsv ] || { echo "e2e_parallel: data/demo missing"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_parallel FAIL: $*"; exit 1; }

. tests/demo_model.sh
demo_model "$T"

ARGS="--task mrpc --data data/demo --model $T/m.bin --method did --dmin 1 --dmax 256
    --precision 1.2 --baseline-lr 1e-3 --baseline-epochs 1 --threshold 0.924 --proj-seed 1235
    --lr 3e-2 --optimizer adamw --lr-rule fixed --epochs 1 --limit-train 600 --limit-dev 150
    --max-len 48 --threads-per-run 1 --quiet"
# the baseline, its trials, the search and every probe as the JSON report
# prints them (exact digits), without the timings and the resumed flags;
# the "runs" list after them is in the order runs finished (and a parallel
# search lists its speculative runs there too)
runs() { sed -n '/^[[:space:]]"baseline":/,/^[[:space:]]"runs":/p' "$1" | grep -vE '"(seconds|resumed)":'; }
# the same, for a resumed search: what the state file keeps of a run
core() { runs "$1" | grep -E '"(d|lr|metric|proj_seed|epochs|diverged|majority_only|d90|value|met)":'; }
summary() { grep -E '^(proj seed|d90|baseline)' "$1"; }
same() { # same NAME [core]: compare NAME's summary and runs with run a's
    summary "$T/$1.txt" > "$T/$1.sum"; ${2:-runs} "$T/$1.json" > "$T/$1.runs"
    ${2:-runs} "$T/a.json" > "$T/a.runs"
    cmp -s "$T/a.sum" "$T/$1.sum" || fail "$1 differs from --jobs 1: $(diff "$T/a.sum" "$T/$1.sum")"
    cmp -s "$T/a.runs" "$T/$1.runs" || fail "$1 differs from --jobs 1 in the runs: $(diff "$T/a.runs" "$T/$1.runs" | head -5)"
}

# 1. one slot, three forked slots, three MPI ranks
"$IDIM" measure $ARGS --jobs 1 --out "$T/a.json" > "$T/a.txt" || fail "--jobs 1: exit $?"
summary "$T/a.txt" > "$T/a.sum"
# the comparisons below must see the probes, not two empty extracts
runs "$T/a.json" | grep -q '"outcome":' || fail "no probe fields extracted from the report"
grep -q '"probes":' "$T/a.json" && [ "$(runs "$T/a.json" | grep -c '"d":')" -ge 4 ] \
    || fail "too few probes extracted from the report"
grep -q '^d90 = ' "$T/a.sum" || fail "no d90: $(cat "$T/a.txt")"
n_probes=$(grep -o 'd=[0-9]*:' "$T/a.sum" | wc -l)
[ "$n_probes" -ge 4 ] || fail "the search needs more probes to test anything ($n_probes)"
"$IDIM" measure $ARGS --jobs 3 --out "$T/b.json" > "$T/b.txt" || fail "--jobs 3: exit $?"
same b
grep -q '"transport":[[:space:]]*"fork"' "$T/b.json" || fail "report lacks transport fork"
# the workers send each run's training curves (the optimizer-limited rule
# reads them): every run of the report has them, as with --jobs 1
python3 - "$T/b.json" <<'PY' 2>/dev/null || { command -v python3 >/dev/null && fail "--jobs 3 runs lack their curves"; }
import json, sys
r = json.load(open(sys.argv[1]))
runs = r["runs"] + r["baseline"]["trials"]
assert all(len(t.get("epoch_loss", [])) == t["epochs"] for t in runs)
assert sum(t["epochs"] >= 1 for t in runs) >= 3
PY
echo "e2e_parallel: --jobs 3 = --jobs 1: $(grep '^d90' "$T/a.sum") ($n_probes probes)"

MPIRUN=""
if command -v mpirun >/dev/null 2>&1 && ldd "$IDIM" 2>/dev/null | grep -q libmpi; then
    # Open MPI leaks at MPI_Finalize (its own and dlopened components'
    # allocations), which `make asan`'s LeakSanitizer would report; idim's
    # own code is leak-checked on the --jobs paths
    MPIRUN="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun --oversubscribe --bind-to none"
    [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
if [ -n "$MPIRUN" ]; then
    $MPIRUN -np 3 "$IDIM" measure $ARGS --out "$T/c.json" > "$T/c.txt" 2> "$T/c.err" \
        || fail "mpirun -np 3: exit $?: $(tail -5 "$T/c.err")"
    same c
    grep -q '"transport":[[:space:]]*"mpi"' "$T/c.json" || fail "report lacks transport mpi"
    echo "e2e_parallel: mpirun -np 3 = --jobs 1"
else
    echo "e2e_parallel: no mpirun or idim built without MPI: MPI checks skipped"
fi

# 2. kill -9 a forked worker mid-run: restarted, same result
# the state file's trial count: u32 at byte 20 (docs/MEASURE.md)
n_trials() { n=$(od -An -t u4 -j 20 -N 4 "$1" 2>/dev/null | tr -d ' '); echo "${n:-0}"; }
wait_trials() { # wait_trials STATE PID: until STATE holds 3 runs, while PID lives
    i=0
    while [ "$(n_trials "$1")" -lt 3 ]; do
        kill -0 "$2" 2>/dev/null || fail "the search ended before a worker could be killed"
        sleep 0.05; i=$((i + 1)); [ $i -lt 2400 ] || fail "no runs finished"
    done
}
"$IDIM" measure $ARGS --jobs 2 --state "$T/d.state" --out "$T/d.json" > "$T/d.txt" &
pid=$!
wait_trials "$T/d.state" $pid
w=$(pgrep -P $pid | head -1)
[ -n "$w" ] || fail "no worker process under $pid"
kill -9 "$w"
wait $pid || fail "--jobs 2 after a worker was killed: exit $?"
same d
grep -q 'started again' "$T/d.json" || fail "the report does not say a worker was restarted"
echo "e2e_parallel: a killed worker was restarted; same d90 and runs"

# 3. kill -9 MPI rank 1 mid-search: mpirun ends; rerun with --state resumes
if [ -n "$MPIRUN" ]; then
    $MPIRUN -np 3 "$IDIM" measure $ARGS --state "$T/e.state" --out "$T/e.json" \
        > "$T/e.txt" 2> "$T/e.err" &
    mpid=$!
    wait_trials "$T/e.state" $mpid
    r1=""
    # mpirun starts the local ranks as its children; rank 1 is the child
    # whose environment says so
    for p in $(pgrep -P $mpid); do
        tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$' && r1=$p
    done
    [ -n "$r1" ] || fail "cannot find MPI rank 1"
    kill -9 "$r1"
    wait $mpid && fail "mpirun went on after rank 1 was killed"
    [ -f "$T/e.json" ] && fail "a killed job left a report"
    before=$(n_trials "$T/e.state")
    $MPIRUN -np 3 "$IDIM" measure $ARGS --state "$T/e.state" --out "$T/e.json" \
        > "$T/e.txt" 2> "$T/e.err" || fail "resumed mpirun: exit $?: $(tail -3 "$T/e.err")"
    same e core
    grep -q '"resumed":[[:space:]]*true' "$T/e.json" || fail "no probe marked resumed"
    echo "e2e_parallel: rank 1 killed after $before finished runs; the resumed job agrees"
fi

# 4. the baseline guard holds on slots too: a model that stays at the
#    majority class stops after the baseline (exit 3), no probe is trained
"$IDIM" measure --task mrpc --data data/demo --model "$T/random.bin" --method did --dmin 4 \
    --dmax 8 --baseline-lr 1e-7 --baseline-epochs 1 --lr 3e-2 --epochs 1 --limit-train 64 \
    --limit-dev 64 --max-len 48 --threads-per-run 1 --quiet --jobs 2 --state "$T/g.state" \
    > /dev/null 2> "$T/g.err"; rc=$?
[ $rc -eq 3 ] || fail "guard with --jobs 2: exit $rc, expected 3: $(cat "$T/g.err")"
grep '^trial' "$T/g.state" | awk '$3 != 0 { bad = 1 } END { exit bad }' \
    || fail "the guard stopped the search but probes were trained: $(cat "$T/g.state")"

# 5. sweep
SW="--task mrpc --data data/demo --model $T/m.bin --method did --d 2,8,32 --lr 3e-2,1e-1
    --epochs 1 --limit-train 300 --limit-dev 100 --max-len 48 --threads-per-run 1 --no-baseline
    --quiet --json"
"$IDIM" sweep $SW --jobs 1 | sed 's/"seconds":[^,]*,//' > "$T/s1" || fail "sweep --jobs 1"
"$IDIM" sweep $SW --jobs 2 | sed 's/"seconds":[^,]*,//' > "$T/s2" || fail "sweep --jobs 2"
[ "$(wc -l < "$T/s1")" -eq 3 ] || fail "sweep printed $(wc -l < "$T/s1") rows, expected 3"
cmp -s "$T/s1" "$T/s2" || fail "sweep --jobs 2 differs: $(diff "$T/s1" "$T/s2")"
echo "e2e_parallel: ok"
