#!/bin/sh
# `make install PREFIX=...` into a temporary prefix: binary, man page,
# completion, schema, demo data with its model and scripts; the installed idim
# finds its share folder, and `idim measure` on the installed demo works from
# another folder (a short search: d 8..64, one epoch each).
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P="$T/prefix"
make -s install PREFIX="$P" > "$T/install.log" 2>&1 || { cat "$T/install.log"; echo "e2e_install: make install failed"; exit 1; }
fail=0
for f in bin/idim share/man/man1/idim.1 share/bash-completion/completions/idim \
    share/idim/docs/report.schema.json share/idim/data/demo/model.idim share/idim/data/demo/train.tsv \
    share/idim/data/demo/pretrain/train.tsv share/idim/scripts/pt2safetensors.py share/idim/scripts/sweep-d.sh; do
    [ -e "$P/$f" ] || { echo "e2e_install: $f was not installed"; fail=1; }
done
mkdir "$T/elsewhere"; cd "$T/elsewhere" || exit 1
"$P/bin/idim" --version | grep -qF "share: $P/share/idim" \
    || { echo "e2e_install: the installed idim does not find $P/share/idim:"; "$P/bin/idim" --version; fail=1; }
S="$P/share/idim"
"$P/bin/idim" measure --task mrpc --data "$S/data/demo" --model "$S/data/demo/model.idim" --method did \
    --dmin 8 --dmax 64 --seeds 1 --epochs 1 --lr 2e-2 --baseline 0.9 --max-len 40 --threads 1 --quiet \
    --out report.json > measure.txt 2> measure.err; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then
    echo "e2e_install: installed measure from another folder: exit $rc"; cat measure.err; fail=1
fi
[ -s report.json ] || { echo "e2e_install: no report written"; fail=1; }
printf 'PK\003\004' > pytorch_model.bin
"$P/bin/idim" info pytorch_model.bin 2> hint.err
grep -qF "python3 $S/scripts/pt2safetensors.py" hint.err \
    || { echo "e2e_install: the hint does not name the installed script: $(cat hint.err)"; fail=1; }
man -l "$P/share/man/man1/idim.1" > /dev/null 2>&1 || ! command -v man > /dev/null \
    || { echo "e2e_install: the man page does not render"; fail=1; }
[ $fail -eq 0 ] && echo "e2e_install: installed under a temporary prefix; measure ran from another folder (exit $rc)"
exit $fail
