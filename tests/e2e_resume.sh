#!/bin/sh
# e2e_resume.sh - kill -9 idim measure inside subspace runs (twice) and
# resume from the in-run checkpoints: the final report must equal an
# uninterrupted run's, d90 and every run's metric and steps bit for bit
# (scripts/kill-resume.sh; the note of issue 9 has a 10-kill run).
IDIM=${IDIM:-./idim}
[ -f data/demo/train.tsv ] || { echo "e2e_resume: data/demo missing"; exit 77; }
command -v python3 >/dev/null || { echo "e2e_resume: python3 missing"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
out=$(IDIM=$IDIM CKPT=0.2 EPOCHS=3 LIMIT=500 DMAX=64 WAIT=1.2 sh scripts/kill-resume.sh 2 "$T" 2>&1); rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || exit 1
printf '%s\n' "$out" | grep -q "^kill 1 " || { echo "e2e_resume FAIL: no kill landed inside a run"; exit 1; }
echo "e2e_resume: ok"
