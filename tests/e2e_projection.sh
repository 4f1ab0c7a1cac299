#!/bin/sh
# e2e_projection.sh - the projection controls of issue 15 end to end on the
# bundled demo task (data/demo, no ../shared needed):
#  1. `idim train --projection identity --method did --optimizer adamw
#     --lr-rule fixed` equals `idim finetune` with the same optimizer
#     settings (weight decay 0: the one documented difference, README) bit
#     for bit - every epoch's loss and dev metric - on a tiny random model and
#     on the demo's random model; with the default optimizer (adamw-proj) it
#     is AdamW up to rounding;
#  2. an identity theta reproduces its metric under `idim eval`;
#  3. dense and Fastfood projections give the same distribution of results
#     on a small case (5 projection seeds each: means within 0.05, and each
#     mean inside the other's range widened by 0.02).
IDIM=${IDIM:-./idim}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_projection FAIL: $*"; exit 1; }
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }

"$IDIM" init --layers 1 --hidden 16 --heads 2 --ffn 32 --max-pos 64 --vocab data/demo/vocab.txt \
    --seed 3 -o "$T/tiny.bin" >/dev/null || fail "init tiny"
"$IDIM" init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 --vocab data/demo/vocab.txt \
    --seed 0 -o "$T/demo.bin" >/dev/null || fail "init demo"
for m in tiny demo; do
    lr=1e-3; [ $m = tiny ] && lr=1e-2
    C="--task mrpc --data data/demo --model $T/$m.bin --lr $lr --epochs 2 --max-len 40 --dropout 0.1 --threads 1 --quiet"
    "$IDIM" finetune $C --weight-decay 0 --out "$T/$m.ft" >/dev/null 2>&1 || fail "finetune $m"
    "$IDIM" train $C --method did --projection identity --optimizer adamw --lr-rule fixed \
        --save-theta "$T/$m.theta" >"$T/$m.id" || fail "train identity $m"
    "$IDIM" train $C --method did --projection identity >"$T/$m.idp" || fail "train identity adamw-proj $m"
    python3 - "$T/$m.ft" "$T/$m.id" "$m" <<'PY' || fail "$m: identity differs from finetune"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a = a["runs"][0] if "runs" in a else a
for f in ("epoch_loss", "epoch_metric", "best", "majority", "steps"):
    if a[f] != b[f]:  # exact: the floats print with 17 digits
        print("%s: %s: finetune %r, identity %r" % (sys.argv[3], f, a[f], b[f])); sys.exit(1)
print("e2e_projection: %s: identity == finetune bit for bit, epoch_loss %r" % (sys.argv[3], b["epoch_loss"]))
PY
    # the default subspace optimizer (adamw-proj, rule weight) at P = I is AdamW
    # up to float rounding (the bias correction is applied in another order)
    python3 - "$T/$m.ft" "$T/$m.idp" "$m" <<'PY' || fail "$m: identity with adamw-proj is not finetune's AdamW"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a = a["runs"][0] if "runs" in a else a
assert b["optimizer"] == "adamw-proj" and b["lr_effective"] == a["lr"], b
worst = max(abs(x - y) / abs(x) for x, y in zip(a["epoch_loss"], b["epoch_loss"]))
print("e2e_projection: %s: identity with adamw-proj: epoch_loss within %.1e of finetune's" % (sys.argv[3], worst))
sys.exit(0 if worst < 1e-4 and a["best"] == b["best"] else 1)
PY
    "$IDIM" eval --model "$T/$m.bin" --theta "$T/$m.theta" --task mrpc --data data/demo >"$T/$m.eval" \
        || fail "eval identity $m"
    grep -q '"reproduced":true' "$T/$m.eval" || fail "eval identity $m: $(cat "$T/$m.eval")"
done

# usage errors that need the model: exit 2 and a message that says why
E="--task mrpc --data data/demo --model $T/demo.bin --max-len 40 --threads 1 --quiet --epochs 1"
"$IDIM" train $E --projection identity --method said >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "needs --method did" "$T/err" || fail "identity with SAID: rc $rc: $(cat "$T/err")"
"$IDIM" train $E --projection identity --method did --d 100 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "must equal D = " "$T/err" || fail "identity with d != D: rc $rc: $(cat "$T/err")"
"$IDIM" train $E --projection dense --method did --d 20000 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "limit is" "$T/err" || fail "dense too large: rc $rc: $(cat "$T/err")"

# dense vs Fastfood: 5 projection seeds each, DID d = 32 on the tiny model
# "pretrained" like the demo's (data/demo/pretrain), so small d learns
"$IDIM" finetune --task mrpc --data data/demo/pretrain --model "$T/tiny.bin" --lr 1e-2 --epochs 3 \
    --max-len 40 --dropout 0 --threads 1 --quiet --save-model "$T/pre.bin" >/dev/null 2>&1 \
    || fail "pretrain tiny"
C="--task mrpc --data data/demo --model $T/pre.bin --method did --d 32 --optimizer adamw --lr-rule fixed --lr 2e-2 --epochs 3 --max-len 40 --dropout 0 --threads 1 --quiet --limit-train 480"
for k in dense fastfood; do
    for s in 1 2 3 4 5; do
        "$IDIM" train $C --projection $k --proj-seed $s >"$T/$k.$s" || fail "train $k seed $s"
        field "$T/$k.$s" best
    done >"$T/$k.best"
done
python3 - "$T/dense.best" "$T/fastfood.best" <<'PY' || fail "dense and fastfood distributions differ"
import sys
a = [float(x) for x in open(sys.argv[1])]; b = [float(x) for x in open(sys.argv[2])]
ma, mb = sum(a) / len(a), sum(b) / len(b)
print("e2e_projection: dense best %s (mean %.3f), fastfood best %s (mean %.3f)" % (a, ma, b, mb))
ok = abs(ma - mb) <= 0.05 and min(a) - 0.02 <= mb <= max(a) + 0.02 and min(b) - 0.02 <= ma <= max(b) + 0.02
sys.exit(0 if ok else 1)
PY
echo "e2e_projection: ok"
