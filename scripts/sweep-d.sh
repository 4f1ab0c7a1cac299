#!/bin/sh
# sweep-d.sh - a log-scale sweep of `idim sweep` runs over d on one machine,
# on several hosts, or as a Slurm job array; one JSON line per d (the line
# `idim sweep --json` prints: d, lr, metric, ...), merged in d order.
#
# usage: scripts/sweep-d.sh [-j JOBS] [-H host1,host2,...] [-o OUT.jsonl]
#            [--dmin 10] [--dmax 10000] [--points 10] [--d 10,100,1000] [--merge]
#            -- IDIM-SWEEP-ARGS...
#
#   (default)   this machine: one `idim sweep --jobs JOBS` over the grid
#               (forked workers; the same scheduler as idim measure)
#   -H HOSTS    GNU parallel --sshlogin HOSTS runs one `idim sweep --d D` per
#               d, JOBS at a time per host (each host needs idim and the
#               model/data at the same paths); ":" is this machine
#   Slurm array when SLURM_ARRAY_TASK_ID is set: this task trains only the
#               grid's d number SLURM_ARRAY_TASK_ID (0-based) and writes
#               OUT.parts/d_<D>.jsonl; afterwards `--merge` (same grid and
#               -o) merges the parts into OUT. Example batch script:
#                 #SBATCH --array=0-9
#                 #SBATCH --cpus-per-task=4
#                 scripts/sweep-d.sh --points 10 -o sweep.jsonl -- \
#                     --task mrpc --model M --threads-per-run 4
#               then: sbatch --dependency=afterok:JOBID --wrap \
#                     "scripts/sweep-d.sh --merge --points 10 -o sweep.jsonl"
#   -j JOBS     runs at once (default: number of cores); each run gets
#               --threads-per-run 1 unless the sweep args set it
#   -o OUT      merged JSON lines (default sweep.jsonl), written atomically
#   --dmin/--dmax/--points   log-spaced grid (default 10..10000, 10 points)
#   --d LIST    explicit comma-separated d values instead of the grid
#   --merge     only merge OUT.parts/ into OUT (after a Slurm array)
#   IDIM        the idim binary (default: ./idim, else idim on PATH)
# The baseline is left out (--no-baseline) unless the sweep args give
# --baseline or --baseline-from. A run's line depends only on its d and the
# arguments (fixed --threads-per-run), never on the mode or JOBS.
#
# example:
#   scripts/sweep-d.sh -j 2 --dmin 100 --dmax 10000 --points 5 -o sweep.jsonl -- \
#       --task mrpc --data data/demo --model data/demo/model.idim --epochs 3
# Exit status: 0 when every run succeeded, else 1 (the file holds the runs
# that finished); 2 for a usage error.
set -u
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
hosts=""; out="sweep.jsonl"; dmin=10; dmax=10000; points=10; dlist=""; merge_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    -j) jobs=$2; shift 2 ;;
    -H) hosts=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --dmin) dmin=$2; shift 2 ;;
    --dmax) dmax=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --d) dlist=$2; shift 2 ;;
    --merge) merge_only=1; shift ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) echo "sweep-d.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || [ $merge_only = 1 ] || { echo "sweep-d.sh: give the idim sweep arguments after --" >&2; exit 2; }
if [ -z "${IDIM:-}" ]; then
    if [ -x ./idim ]; then IDIM=$(pwd)/idim; else IDIM=idim; fi
fi
case " $* " in *" --threads-per-run "*|*" --threads "*|*" --threads="*|*" --threads-per-run="*) ;;
    *) set -- "$@" --threads-per-run 1 ;; esac
case " $* " in *" --baseline "*|*" --baseline-from "*|*" --baseline="*|*" --baseline-from="*) ;;
    *) set -- "$@" --no-baseline ;; esac

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

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
# Merges JSON lines (each carries "d":N) from stdin into $out, in d order.
merge() {
    awk '{ match($0, /"d":[ ]*[0-9]+/); d = substr($0, RSTART, RLENGTH); sub(/"d":[ ]*/, "", d);
           printf "%012d\t%s\n", d, $0 }' | sort | cut -f2- > "$tmp/merged"
    cp "$tmp/merged" "$out.tmp.$$" && mv "$out.tmp.$$" "$out" \
        || { echo "sweep-d.sh: cannot write $out" >&2; exit 1; }
    echo "sweep-d.sh: $(wc -l < "$out") runs merged into $out" >&2
}

if [ $merge_only = 1 ]; then
    n=0; missing=""
    for d in $grid; do
        n=$((n + 1))
        [ -s "$out.parts/d_$d.jsonl" ] || missing="$missing $d"
    done
    cat "$out.parts"/d_*.jsonl 2>/dev/null | merge
    [ -z "$missing" ] || { echo "sweep-d.sh: no result yet for d =$missing" >&2; exit 1; }
    exit 0
fi

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    d=$(printf '%s\n' $grid | sed -n "$((SLURM_ARRAY_TASK_ID + 1))p")
    [ -n "$d" ] || { echo "sweep-d.sh: SLURM_ARRAY_TASK_ID=$SLURM_ARRAY_TASK_ID but the grid has $(printf '%s\n' $grid | wc -l) points (0-based)" >&2; exit 2; }
    mkdir -p "$out.parts" || exit 1
    part="$out.parts/d_$d.jsonl"
    "$IDIM" sweep "$@" --d "$d" --json --quiet > "$part.tmp.$$" && mv "$part.tmp.$$" "$part" \
        || { rc=$?; rm -f "$part.tmp.$$"; echo "sweep-d.sh: d=$d failed (exit $rc)" >&2; exit 1; }
    echo "sweep-d.sh: array task $SLURM_ARRAY_TASK_ID: d=$d written to $part" >&2
    exit 0
fi

rc=0
if [ -n "$hosts" ]; then
    command -v parallel >/dev/null 2>&1 || { echo "sweep-d.sh: -H needs GNU parallel (Debian: parallel)" >&2; exit 2; }
    # One run: `idim sweep --d $1`, its JSON line on stdout. The sweep args
    # travel in a file (--basefile copies it to every host) so quoting
    # survives ssh.
    args_q=""
    for a in "$@"; do args_q="$args_q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"; done
    cat > "$tmp/run.sh" <<EOF
"$IDIM" sweep $args_q --d "\$1" --json --quiet || { rc=\$?; echo "sweep-d.sh: d=\$1 failed (exit \$rc)" >&2; exit 1; }
EOF
    base="--basefile $tmp/run.sh"; [ "$hosts" = ":" ] && base=""
    printf '%s\n' $grid | parallel --will-cite -j "$jobs" --sshlogin "$hosts" $base \
        sh "$tmp/run.sh" {} > "$tmp/lines" || rc=1
else
    "$IDIM" sweep "$@" --jobs "$jobs" --d "$(printf '%s\n' $grid | paste -sd, -)" --json --quiet \
        > "$tmp/lines" || rc=1
fi
merge < "$tmp/lines"
exit $rc
