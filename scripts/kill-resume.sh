#!/bin/sh
# kill-resume.sh - kill -9 `idim measure` at random moments inside its runs,
# resume each time with the same --state, and check that the final report
# has the same d90 and the same per-run results, bit for bit, as an
# uninterrupted run; measures the work lost at each kill (time since the
# state file was last written, which must stay within the checkpoint
# interval plus one step).
#
# usage: scripts/kill-resume.sh KILLS [OUT_DIR]
# Environment: IDIM (default ./idim), MODEL (an idim model for data/demo; made
# as `make demo` does when unset), CKPT (checkpoint interval, default 1 s),
# EPOCHS (default 6), LIMIT (training rows, default 0 = all), THREADS (1),
# DMAX (default 10000), WAIT (a kill falls WAIT/4 to WAIT seconds into a session, default 6).
# Prints one line per kill and a last line "kill-resume: ok ..." or fails
# with exit 1.
set -u
KILLS=${1:?usage: kill-resume.sh KILLS [OUT_DIR]}
OUT=${2:-$(mktemp -d)}
IDIM=${IDIM:-./idim}
CKPT=${CKPT:-1}
EPOCHS=${EPOCHS:-6}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-1}
mkdir -p "$OUT"
fail() { echo "kill-resume FAIL: $*"; exit 1; }
now() { date +%s.%N; }

if [ -z "${MODEL:-}" ]; then
    MODEL=$OUT/demo.bin
    "$IDIM" init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 \
        --vocab data/demo/vocab.txt --seed 0 -o "$OUT/random.bin" >/dev/null || fail init
    "$IDIM" finetune --task mrpc --data data/demo/pretrain --model "$OUT/random.bin" \
        --lr 1e-3 --epochs 3 --max-len 40 --dropout 0 --threads "$THREADS" --quiet \
        --save-model "$MODEL" >/dev/null || fail finetune
fi
run() { # run OUT.json [extra]: the demo's measure command
    o=$1; shift
    $EXEC "$IDIM" measure --task mrpc --data data/demo --model "$MODEL" --method did \
        --dmin 8 --dmax "${DMAX:-10000}" --precision 1.25 --lr 2e-2 --epochs "$EPOCHS" \
        --baseline-lr 1e-3 --baseline-epochs 4 --max-len 40 --limit-train "$LIMIT" \
        --threads "$THREADS" --quiet --checkpoint-every "$CKPT" --out "$o" "$@" > /dev/null
    rc=$?
    [ $rc -eq 5 ] && rc=0 # not reached: the report is still written and compared
    return $rc
}
# the per-run results (exact digits), timing fields left out
runs() { python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("d90", r["d90"], r["reached"])
for t in r["runs"]:
    print(t["proj_seed"], t["d"], repr(t["lr"]), repr(t["metric"]), t["outcome"], t["steps"],
          t["met_step"], t["hopeless_step"], t["epochs"])
' "$1"; }

EXEC=""
t0=$(now)
run "$OUT/ref.json" || fail "reference run: exit $?"
t_ref=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
runs "$OUT/ref.json" > "$OUT/ref.runs"
echo "kill-resume: reference run $t_ref s, $(grep -c . "$OUT/ref.runs") lines"

rm -f "$OUT/s.state" "$OUT/k.json"
k=0; max_lost=0
while [ $k -lt "$KILLS" ]; do
    EXEC=exec run "$OUT/k.json" --state "$OUT/s.state" &
    pid=$!
    # a random moment WAIT/4 to WAIT s into this session, counted once the baseline
    # (full fine-tuning: not checkpointed) is in the state, so it falls inside
    # a subspace run
    i=0
    while [ "$(od -An -t u4 -j 20 -N 4 "$OUT/s.state" 2>/dev/null | tr -d ' ')" = "0" ] ||
          [ ! -s "$OUT/s.state" ]; do
        kill -0 $pid 2>/dev/null || break
        sleep 0.1; i=$((i + 1)); [ $i -lt 6000 ] || fail "the baseline never finished"
    done
    w=$(awk -v s="$(od -An -N2 -tu2 /dev/urandom)" -v m="${WAIT:-6}" \
        'BEGIN { print m / 4 + (s % 1000) / 1000 * m * 3 / 4 }')
    sleep "$w"
    if ! kill -0 $pid 2>/dev/null; then wait $pid; rm -f "$OUT/k.json"; break; fi
    kill -9 $pid 2>/dev/null
    t_kill=$(now)
    wait $pid 2>/dev/null
    k=$((k + 1))
    [ -f "$OUT/k.json" ] && fail "a killed run left a report"
    t_state=$(stat -c '%.9Y' "$OUT/s.state" 2>/dev/null || echo "$t_kill")
    lost=$(awk -v a="$t_state" -v b="$t_kill" 'BEGIN { printf "%.2f", b - a }')
    n=$(od -An -t u4 -j 20 -N 4 "$OUT/s.state" | tr -d ' ')
    c=$(od -An -t u8 -j 24 -N 8 "$OUT/s.state" | tr -d ' ')
    echo "kill $k after $w s: $n finished runs, checkpoint $c bytes, lost $lost s"
    max_lost=$(awk -v a="$max_lost" -v b="$lost" 'BEGIN { print (b > a) ? b : a }')
done
EXEC=""
run "$OUT/k.json" --state "$OUT/s.state" || fail "final resumed run: exit $?"
runs "$OUT/k.json" > "$OUT/k.runs"
cmp -s "$OUT/ref.runs" "$OUT/k.runs" || { diff "$OUT/ref.runs" "$OUT/k.runs"; fail "resumed report differs"; }
echo "kill-resume: ok: $k kills, same d90 ($(sed -n 's/^d90 //p' "$OUT/ref.runs")) and same per-run results bit for bit; largest lost work $max_lost s (checkpoint every $CKPT s)"
