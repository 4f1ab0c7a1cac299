#!/bin/sh
# Runs every cmocka test binary in $BUILD/tests and the CLI cases, then
# prints one closing line: "N passed, N failed, N skipped".
# Exit status is non-zero when anything failed.
BUILD=${BUILD:-build}
IDIM=${IDIM:-./idim}
export IDIM
pass=0; fail=0; skip=0; bad_bins=""
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); bad_bins="$bad_bins $t(rc=$rc)"; fi
done
if [ -f tests/cli_cases.txt ]; then
    out=$(sh tests/cli.sh 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(printf '%s\n' "$out" | sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
fi
for s in tests/e2e_*.sh; do
    [ -f "$s" ] || continue
    out=$(sh "$s" 2>&1); rc=$?
    printf '%s\n' "$out"
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "[       OK ] $s";
    elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "[  SKIPPED ] $s";
    else fail=$((fail + 1)); echo "[  FAILED  ] $s (rc=$rc)"; fi
done
[ -n "$bad_bins" ] && echo "crashed or failed outside cmocka:$bad_bins"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
