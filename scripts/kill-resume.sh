#!/bin/sh
# kill-resume.sh - kill -9 `idim measure` at random moments inside its runs
# (the baseline's full fine-tuning runs included), resume each time with the
# same --state, and check that the final report has the same d90 and the
# same per-run results, bit for bit, as an uninterrupted run; measures the
# work lost at each kill: the time from the moment the state file was last
# written (or, when this session wrote nothing yet, from the session's
# start) to the kill, which must stay within the checkpoint interval.
#
# usage: scripts/kill-resume.sh KILLS [OUT_DIR]
# Environment: IDIM (default ./idim), MODEL (an idim model for data/demo; made
# as `make demo` does when unset), CKPT (--checkpoint-every in seconds, as
# 1 or 1s; default 1), EPOCHS (default 6), LIMIT (training rows, default 0 = all),
# THREADS (1), DMAX (default 10000), WAIT (a kill falls WAIT/4 to WAIT
# seconds into a session, default 6; WAITS="1 4.5": the first kills at
# these moments instead), OPTS (more measure options, e.g.
# "--optimizer adamw --lr-rule fixed --lr 2e-2" for the old convention;
# default: the default optimizer), SIGS (the signal of each kill in turn, the
# last one repeating: "9" kill -9 (default), "INT" Ctrl-C, e.g. "9 INT"; a
# Ctrl-C must end the session with exit 130 and checkpoints where it stops,
# so its state file is written after the signal and the lost work shows as
# 0). Prints one line per kill and a last line
# "kill-resume: ok ..." or fails with exit 1 (also when a kill lost more
# than the interval, unless BOUND=0: a timing, which tests do not judge).
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
    # shellcheck disable=SC2086
    $EXEC "$IDIM" measure --task mrpc --data data/demo --model "$MODEL" --method did \
        --dmin 8 --dmax "${DMAX:-10000}" --precision 1.25 ${OPTS:-} --epochs "$EPOCHS" \
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
# the baseline runs and every subspace run, with their training curves
# (which the state file keeps since format 3)
for t in r["baseline"].get("trials", []) + r["runs"]:
    print(t.get("proj_seed", 0), t["d"], repr(t["lr"]), repr(t["metric"]), t["outcome"],
          t["steps"], t["met_step"], t["hopeless_step"], t["epochs"],
          repr(t.get("epoch_loss")), repr(t.get("epoch_metric")))
' "$1"; }

EXEC=""
t0=$(now)
run "$OUT/ref.json" || fail "reference run: exit $?"
t_ref=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
runs "$OUT/ref.json" > "$OUT/ref.runs"
grep -q "None None$" "$OUT/ref.runs" && fail "a run of the reference has no training curve"
echo "kill-resume: reference run $t_ref s, $(grep -c . "$OUT/ref.runs") lines"

rm -f "$OUT/s.state" "$OUT/k.json"
k=0; max_lost=0
while [ $k -lt "$KILLS" ]; do
    t_sess=$(now)
    EXEC=exec run "$OUT/k.json" --state "$OUT/s.state" &
    pid=$!
    # a random moment WAIT/4 to WAIT s into this session: in the baseline,
    # in a subspace run, or between runs
    w=$(awk -v s="$(od -An -N2 -tu2 /dev/urandom)" -v m="${WAIT:-6}" \
        'BEGIN { print m / 4 + (s % 1000) / 1000 * m * 3 / 4 }')
    # WAITS="a b ...": the k-th kill at a fixed moment instead
    fixed=$(echo "${WAITS:-}" | awk -v k=$((k + 1)) '{ print $k }')
    [ -n "$fixed" ] && w=$fixed
    sleep "$w"
    if ! kill -0 $pid 2>/dev/null; then wait $pid; rm -f "$OUT/k.json"; break; fi
    sig=$(echo "${SIGS:-9}" | awk -v k=$((k + 1)) '{ print (k <= NF) ? $k : $NF }')
    kill -"$sig" $pid 2>/dev/null
    t_kill=$(now)
    wait $pid 2>/dev/null
    rc=$?
    [ "$sig" = 9 ] || [ $rc -eq 130 ] || { [ $rc -eq 0 ] && rm -f "$OUT/k.json"; } \
        || fail "kill -$sig: exit $rc, not 130"
    k=$((k + 1))
    [ -f "$OUT/k.json" ] && fail "a killed run left a report"
    t_state=$(stat -c '%.9Y' "$OUT/s.state" 2>/dev/null || echo "$t_sess")
    lost=$(awk -v a="$t_state" -v s="$t_sess" -v b="$t_kill" \
        'BEGIN { if (s > a) a = s; printf "%.2f", (b > a) ? b - a : 0 }')
    n=$(od -An -t u4 -j 20 -N 4 "$OUT/s.state" | tr -d ' ')
    c=$(od -An -t u8 -j 24 -N 8 "$OUT/s.state" | tr -d ' ')
    # what the checkpoint is of: method (1 full = the baseline, 2 did, 3 said), step
    kl=$(od -An -t u4 -j 16 -N 4 "$OUT/s.state" | tr -d ' ')
    where="between runs"
    if [ "$c" -gt 0 ]; then
        ck=$(awk -v kl="$kl" -v n="$n" 'BEGIN { print 32 + kl + 344 * n }')
        m=$(od -An -t u4 -j $((ck + 12)) -N 4 "$OUT/s.state" | tr -d ' ')
        cs=$(od -An -t u8 -j $((ck + 64)) -N 8 "$OUT/s.state" | tr -d ' ')
        dd=$(od -An -t u8 -j $((ck + 40)) -N 8 "$OUT/s.state" | tr -d ' ')
        if [ "$m" = 1 ]; then where="in the baseline at step $cs"; else where="in d=$dd at step $cs"; fi
    fi
    echo "kill $k (-$sig) after $w s: $n finished runs, $where (checkpoint $c bytes), lost $lost s"
    max_lost=$(awk -v a="$max_lost" -v b="$lost" 'BEGIN { print (b > a) ? b : a }')
done
EXEC=""
run "$OUT/k.json" --state "$OUT/s.state" || fail "final resumed run: exit $?"
runs "$OUT/k.json" > "$OUT/k.runs"
cmp -s "$OUT/ref.runs" "$OUT/k.runs" || { diff "$OUT/ref.runs" "$OUT/k.runs"; fail "resumed report differs"; }
over=$(awk -v a="$max_lost" -v c="${CKPT%s}" 'BEGIN { print (a > c) ? 1 : 0 }')
[ "$over" = 0 ] || [ "${BOUND:-1}" = 0 ] || fail "a kill lost $max_lost s, more than the checkpoint interval ($CKPT s)"
echo "kill-resume: ok: $k kills, same d90 ($(sed -n 's/^d90 //p' "$OUT/ref.runs")) and same per-run results bit for bit; largest lost work $max_lost s (checkpoint every $CKPT s)"
