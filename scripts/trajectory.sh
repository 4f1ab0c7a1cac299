#!/bin/sh
# trajectory.sh - d90 along pretraining (Aghajanyan et al. 2021, Figure 3)
# and across model sizes at the same number of updates (their Figure 4).
#
# usage: scripts/trajectory.sh --out DIR --task T [--data DIR]
#            (--presets tiny,mini --corpus FILE[,FILE] --vocab PATH --steps N
#             --checkpoint-every K [--pretrain-args "ARGS"] | --run DIR [--run DIR]...)
#            [--at STEP] [--every K] [-- MEASURE-ARGS...]
#
#   --presets/--corpus/--vocab/--steps/--checkpoint-every
#                  pretrain each preset (idim pretrain, resumable) into
#                  OUT/pretrain-<preset>, same corpus, steps and seed
#   --pretrain-args extra `idim pretrain` options (e.g. "--batch 64 --lr 1e-3")
#   --run DIR      use the checkpoints of an existing `idim pretrain` --out-dir
#                  instead (repeatable: one per model size)
#   --every K      Figure 3 uses the checkpoints whose step is a multiple of K
#                  (default: all); the first run's checkpoints are measured
#   --at STEP      Figure 4 compares the runs at this step (default: the
#                  largest step every run has)
#   MEASURE-ARGS   passed to every `idim measure` (e.g. --limit-train 2000
#                  --dmax 20000 --threads 1)
#   IDIM           the idim binary (default ./idim, else idim on PATH)
#
# Every `idim measure` writes OUT/measure/<run>-<step>.json and keeps a
# --state file, so re-running the script after an interruption resumes.
# Writes OUT/trajectory.tsv and OUT/trajectory.svg (d90 vs pretraining
# steps), OUT/sizes.tsv and OUT/sizes.svg (d90 vs parameters at --at).
# A d that never reached the target is written "none" and drawn at the top
# of the axis as an open marker.
# Exit status: 0, 2 usage, 1 when a command failed.
set -u
IDIM=${IDIM:-./idim}
[ -x "$IDIM" ] || IDIM=idim
out=""; task=""; data=""; presets=""; corpus=""; vocab=""; steps=""; ckpt=""; pargs=""
runs=""; at=""; every=""
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --task) task=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --presets) presets=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --checkpoint-every) ckpt=$2; shift 2 ;;
    --pretrain-args) pargs=$2; shift 2 ;;
    --run) runs="$runs $2"; shift 2 ;;
    --at) at=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "trajectory.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "$out" ] && [ -n "$task" ] || { echo "trajectory.sh: give --out and --task" >&2; exit 2; }
if [ -n "$presets" ]; then
    [ -n "$corpus" ] && [ -n "$vocab" ] && [ -n "$steps" ] && [ -n "$ckpt" ] ||
        { echo "trajectory.sh: --presets needs --corpus, --vocab, --steps, --checkpoint-every" >&2; exit 2; }
fi
[ -n "$presets" ] || [ -n "$runs" ] || { echo "trajectory.sh: give --presets ... or --run DIR" >&2; exit 2; }
mkdir -p "$out/measure" || exit 1
datarg=""
[ -n "$data" ] && datarg="--data $data"

for p in $(echo "$presets" | tr ',' ' '); do
    d="$out/pretrain-$p"
    echo "trajectory: pretraining $p ($steps steps) into $d" >&2
    # shellcheck disable=SC2086
    "$IDIM" pretrain --preset "$p" --vocab "$vocab" --corpus "$corpus" --steps "$steps" \
        --checkpoint-every "$ckpt" --out-dir "$d" --quiet $pargs >/dev/null || exit 1
    runs="$runs $d"
done

# measure: $1 run dir, $2 checkpoint file -> prints d90 (or none)
measure() {
    mr=$1; mf=$2; shift 2
    name=$(basename "$mr")-$(basename "$mf" .bin)
    rep="$out/measure/$name.json"
    if [ ! -f "$rep" ]; then
        echo "trajectory: measuring $mf" >&2
        # shellcheck disable=SC2086
        "$IDIM" measure --task "$task" $datarg --model "$mf" --out "$rep" \
            --state "$out/measure/$name.state" --quiet "$@" >/dev/null 2>"$out/measure/$name.err"
        rc=$?
        [ $rc -eq 0 ] || [ $rc -eq 5 ] || { cat "$out/measure/$name.err" >&2; return 1; }
    fi
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])).get("d90"); print("none" if d is None else d)' "$rep"
}
# step-0000000.bin is step 0 (a run's starting point, e.g. its init.bin linked under that name)
step_of() { basename "$1" .bin | sed 's/^step-0*\([0-9]\)/\1/'; }

first=$(echo $runs | cut -d' ' -f1)
printf 'run\tstep\td90\n' >"$out/trajectory.tsv.tmp"
for f in "$first"/step-*.bin; do
    [ -f "$f" ] || continue
    s=$(step_of "$f")
    if [ -n "$every" ] && [ $((s % every)) -ne 0 ]; then continue; fi
    d90=$(measure "$first" "$f" "$@") || exit 1
    printf '%s\t%s\t%s\n' "$(basename "$first")" "$s" "$d90" >>"$out/trajectory.tsv.tmp"
done
mv "$out/trajectory.tsv.tmp" "$out/trajectory.tsv"

if [ -z "$at" ]; then
    for r in $runs; do
        m=$(for f in "$r"/step-*.bin; do [ -f "$f" ] && step_of "$f"; done | sort -n | tail -1)
        if [ -z "$at" ] || [ "$m" -lt "$at" ]; then at=$m; fi
    done
fi
printf 'run\tstep\tparameters\td90\n' >"$out/sizes.tsv.tmp"
for r in $runs; do
    f=$(printf '%s/step-%07d.bin' "$r" "$at")
    [ -f "$f" ] || { echo "trajectory: $r has no checkpoint at step $at" >&2; exit 1; }
    n=$("$IDIM" info "$f" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["parameters"]["total"])') || exit 1
    d90=$(measure "$r" "$f" "$@") || exit 1
    printf '%s\t%s\t%s\t%s\n' "$(basename "$r")" "$at" "$n" "$d90" >>"$out/sizes.tsv.tmp"
done
mv "$out/sizes.tsv.tmp" "$out/sizes.tsv"

python3 - "$out" "$task" <<'EOF' || { echo "trajectory: drawing the plots failed" >&2; exit 1; }
import math, os, sys
out, task = sys.argv[1], sys.argv[2]

def rows(name):
    with open(os.path.join(out, name)) as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, l.rstrip("\n").split("\t"))) for l in f if l.strip()]

def svg(path, pts, xlab, ylab, title, logx):
    W, H, L, R, T, B = 640, 420, 70, 20, 40, 50
    xs = [p[0] for p in pts] or [1]
    ys = [p[1] for p in pts if p[1] is not None] or [1]
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    x0, x1 = min(fx(x) for x in xs), max(fx(x) for x in xs)
    if x1 == x0: x1 = x0 + 1
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)) + 1e-9)
    if y1 == y0: y1 = y0 + 1
    px = lambda v: L + (fx(v) - x0) / (x1 - x0) * (W - L - R)
    py = lambda v: H - B - (math.log10(v) - y0) / (y1 - y0) * (H - T - B)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W/2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
         f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
         f'<text x="{W/2}" y="{H-12}" text-anchor="middle">{xlab}</text>',
         f'<text x="16" y="{H/2}" text-anchor="middle" transform="rotate(-90 16 {H/2})">{ylab}</text>']
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        s.append(f'<line x1="{L-4}" y1="{y}" x2="{W-R}" y2="{y}" stroke="#ddd"/>')
        s.append(f'<text x="{L-6}" y="{y+4}" text-anchor="end">1e{e}</text>')
    for x in xs:
        s.append(f'<text x="{px(x)}" y="{H-B+16}" text-anchor="middle">{x:g}</text>')
    line = [(px(x), py(y)) for x, y in pts if y is not None]
    if len(line) > 1:
        s.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="' +
                 " ".join(f"{a:.1f},{b:.1f}" for a, b in line) + '"/>')
    for x, y in pts:
        if y is None:
            s.append(f'<circle cx="{px(x):.1f}" cy="{T+4}" r="5" fill="white" stroke="#d62728"/>')
        else:
            s.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="#1f77b4"/>')
    s.append("</svg>")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(s) + "\n")
    os.replace(path + ".tmp", path)

num = lambda v: None if v == "none" else float(v)
t = rows("trajectory.tsv")
svg(os.path.join(out, "trajectory.svg"), [(int(r["step"]), num(r["d90"])) for r in t],
    "pretraining steps", "d90 (log)", f"{task}: d90 along pretraining", False)
z = rows("sizes.tsv")
svg(os.path.join(out, "sizes.svg"), [(int(r["parameters"]), num(r["d90"])) for r in z],
    "parameters (log)", "d90 (log)", f"{task}: d90 by model size at the same updates", True)
EOF
echo "trajectory: wrote $out/trajectory.tsv, trajectory.svg, sizes.tsv, sizes.svg" >&2
