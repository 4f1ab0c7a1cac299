#!/bin/sh
# sweep-d.sh - a log-scale sweep of `idim train --d D` runs, in parallel
# across cores (xargs -P) or hosts (GNU parallel --sshlogin), one JSON line
# per run, merged into one file (in d order).
#
# usage: scripts/sweep-d.sh [-j JOBS] [-H host1,host2,...] [-o OUT.jsonl]
#            [--dmin 10] [--dmax 10000] [--points 10] [--d 10,100,1000]
#            -- IDIM-TRAIN-ARGS...
#
#   -j JOBS     parallel runs (default: number of cores); each run gets
#               --threads 1 unless the train args set --threads
#   -H HOSTS    run on these ssh hosts with GNU parallel --sshlogin (each host
#               needs idim and the model/data at the same paths); ":" = local
#   -o OUT      merged JSON lines (default sweep.jsonl), written atomically
#   --dmin/--dmax/--points   log-spaced grid (default 10..10000, 10 points)
#   --d LIST    explicit comma-separated d values instead of the grid
#   IDIM        the idim binary (default: ./idim, else idim on PATH)
#
# example:
#   scripts/sweep-d.sh -j 2 --dmin 100 --dmax 10000 --points 5 -o sweep.jsonl -- \
#       --task mrpc --data data/demo --model data/demo/model.bin --epochs 3
# Each line is the JSON line `idim train` prints (d, lr, best, ...).
# Exit status: 0 when every run succeeded, else 1 (the file holds the runs
# that finished).
set -u
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
hosts=""; out="sweep.jsonl"; dmin=10; dmax=10000; points=10; dlist=""
while [ $# -gt 0 ]; do
    case "$1" in
    -j) jobs=$2; shift 2 ;;
    -H) hosts=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --dmin) dmin=$2; shift 2 ;;
    --dmax) dmax=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --d) dlist=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) echo "sweep-d.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "sweep-d.sh: give the idim train arguments after --" >&2; exit 2; }
if [ -z "${IDIM:-}" ]; then
    if [ -x ./idim ]; then IDIM=$(pwd)/idim; else IDIM=idim; fi
fi
case " $* " in *" --threads "*|*" --threads="*) ;; *) set -- "$@" --threads 1 ;; esac

if [ -n "$dlist" ]; then
    grid=$(printf '%s\n' "$dlist" | tr ',' '\n')
else
    grid=$(awk -v a="$dmin" -v b="$dmax" -v n="$points" 'BEGIN {
        last = 0
        for (i = 0; i < n; i++) {
            f = (n == 1) ? 0 : i / (n - 1)
            v = int(exp(log(a) + f * (log(b) - log(a))) + 0.5)
            if (i == n - 1) v = b
            if (v > last) { print v; last = v }
        } }')
fi

# One run: train at d=$1, print its JSON object as one line on stdout.
# Quoted train args are passed through a file so they survive ssh.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
args_q=""
for a in "$@"; do args_q="$args_q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"; done
cat > "$tmp/run.sh" <<EOF
d=\$1
"$IDIM" train $args_q --d "\$d" --quiet || { rc=\$?; echo "sweep-d.sh: d=\$d failed (exit \$rc)" >&2; exit 1; }
EOF

rc=0
if [ -n "$hosts" ]; then
    command -v parallel >/dev/null 2>&1 || { echo "sweep-d.sh: -H needs GNU parallel" >&2; exit 2; }
    # --basefile copies run.sh to the same path on every host.
    printf '%s\n' $grid | parallel -j "$jobs" --sshlogin "$hosts" --basefile "$tmp/run.sh" \
        sh "$tmp/run.sh" {} \
        > "$tmp/lines" || rc=1
else
    printf '%s\n' $grid | xargs -P "$jobs" -I{} sh -c "sh '$tmp/run.sh' {} > '$tmp/d_{}.json'" \
        || rc=1
    for d in $grid; do [ -s "$tmp/d_$d.json" ] && cat "$tmp/d_$d.json"; done > "$tmp/lines"
fi
# Merge in d order (lines carry "d":N).
awk '{ match($0, /"d":[ ]*[0-9]+/); d = substr($0, RSTART, RLENGTH); sub(/"d":[ ]*/, "", d);
       printf "%012d\t%s\n", d, $0 }' "$tmp/lines" | sort | cut -f2- > "$tmp/merged"
cp "$tmp/merged" "$out.tmp.$$" && mv "$out.tmp.$$" "$out" || { echo "sweep-d.sh: cannot write $out" >&2; exit 1; }
echo "sweep-d.sh: $(wc -l < "$out") runs merged into $out" >&2
exit $rc
