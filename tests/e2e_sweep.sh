#!/bin/sh
# e2e_sweep.sh - idim sweep (CSV, JSON lines, SVG), idim plot from the saved
# rows, and scripts/sweep-d.sh, on the demo task with a random tiny model and
# tiny settings (the numbers do not matter here, the files do).
IDIM=${IDIM:-./idim}
"$IDIM" sweep --help >/dev/null 2>&1 || { echo "e2e_sweep: $IDIM has no sweep command"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_sweep FAIL: $*"; exit 1; }
"$IDIM" init --layers 1 --hidden 32 --heads 2 --ffn 64 --max-pos 64 --vocab data/demo/vocab.txt \
    -o "$T/m.bin" >/dev/null || fail "idim init"
common="--task mrpc --data data/demo --model $T/m.bin --method did --lr 3e-2 --epochs 1
        --limit-train 200 --limit-dev 100 --max-len 48 --threads 1 --quiet"

# grid 10..1000, 3 points = 10, 100, 1000
"$IDIM" sweep $common --dmin 10 --dmax 1000 --points 3 --baseline 0.7 \
    --out "$T/s.csv" --plot "$T/s.svg" > "$T/s.txt" || fail "sweep: exit $?"
[ "$(sed 1d "$T/s.csv" | cut -d, -f1 | tr '\n' ' ')" = "10 100 1000 " ] \
    || fail "sweep rows: $(cat "$T/s.csv")"
head -1 "$T/s.csv" | grep -q '^d,lr,metric,metric_name' || fail "CSV header"
for want in '<svg' '</svg>' 'class="threshold"' '90% of baseline = 0.6300' 'dev accuracy' \
            'subspace dimension d (log scale)' '>1000</text>' '<polyline'; do
    grep -qF "$want" "$T/s.svg" || fail "sweep SVG lacks '$want'"
done
[ "$(grep -c '<title>d=' "$T/s.svg")" -eq 3 ] || fail "sweep SVG should have 3 points"

# JSON lines, explicit d list
"$IDIM" sweep $common --d 5,50 --no-baseline --json > "$T/s.jsonl" || fail "sweep --json: exit $?"
[ "$(wc -l < "$T/s.jsonl")" -eq 2 ] || fail "expected 2 JSON lines: $(cat "$T/s.jsonl")"
grep -q '"d":50' "$T/s.jsonl" || fail "JSON line for d=50"

# plot from the saved rows draws the same points and lines
"$IDIM" plot --in "$T/s.csv" --baseline 0.7 -o "$T/p.svg" || fail "plot: exit $?"
grep -qF 'class="threshold"' "$T/p.svg" || fail "plot lacks the 90% line"
[ "$(grep -c '<title>d=' "$T/p.svg")" -eq 3 ] || fail "plot should have 3 points"
"$IDIM" plot --in "$T/s.txt" -o "$T/bad.svg" 2>/dev/null; rc=$?
[ $rc -eq 3 ] || fail "plot of a non-CSV file: exit $rc, expected 3"
[ -f "$T/bad.svg" ] && fail "a failed plot left a file"

# scripts/sweep-d.sh: 2 parallel jobs, merged in d order
IDIM="$IDIM" sh scripts/sweep-d.sh -j 2 --d 20,2 -o "$T/sd.jsonl" -- $common 2>/dev/null \
    || fail "sweep-d.sh: exit $?"
[ "$(wc -l < "$T/sd.jsonl")" -eq 2 ] || fail "sweep-d.sh lines: $(cat "$T/sd.jsonl")"
head -1 "$T/sd.jsonl" | grep -q '"d":2,' || fail "sweep-d.sh: not in d order"
"$IDIM" plot --in "$T/sd.jsonl" -o "$T/sd.svg" 2>/dev/null || fail "idim plot of sweep-d.sh lines: exit $?"
[ "$(grep -c '<title>d=' "$T/sd.svg")" -eq 2 ] || fail "plot of sweep-d.sh lines: expected 2 points"
# the same lines (timings aside) from GNU parallel on this machine (-H :)
# and from a Slurm array (two fake tasks, then --merge)
untimed() { sed 's/"seconds":[^,]*,//' "$1"; }
untimed "$T/sd.jsonl" > "$T/sd.want"
if command -v parallel >/dev/null 2>&1; then
    IDIM="$IDIM" sh scripts/sweep-d.sh -j 2 -H : --d 20,2 -o "$T/sh.jsonl" -- $common 2>/dev/null \
        || fail "sweep-d.sh -H :: exit $?"
    untimed "$T/sh.jsonl" | cmp -s - "$T/sd.want" || fail "sweep-d.sh -H : differs: $(cat "$T/sh.jsonl")"
else
    echo "e2e_sweep: GNU parallel not installed (Debian: parallel): -H not tested"
fi
for i in 1 0; do
    SLURM_ARRAY_TASK_ID=$i IDIM="$IDIM" sh scripts/sweep-d.sh --d 20,2 -o "$T/sa.jsonl" -- $common \
        2>/dev/null || fail "sweep-d.sh as array task $i: exit $?"
done
[ -f "$T/sa.jsonl.parts/d_20.jsonl" ] || fail "array task 0 did not write d_20 (the grid's first d)"
sh scripts/sweep-d.sh --merge --d 20,2 -o "$T/sa.jsonl" 2>/dev/null || fail "sweep-d.sh --merge: exit $?"
untimed "$T/sa.jsonl" | cmp -s - "$T/sd.want" || fail "Slurm array lines differ: $(cat "$T/sa.jsonl")"
SLURM_ARRAY_TASK_ID=5 sh scripts/sweep-d.sh --d 20,2 -o "$T/sb.jsonl" -- $common 2>/dev/null; rc=$?
[ $rc -eq 2 ] || fail "an array task beyond the grid: exit $rc, expected 2"
echo "e2e_sweep: ok"
