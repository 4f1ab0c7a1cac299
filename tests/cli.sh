#!/bin/sh
# Runs tests/cli_cases.txt: each non-comment row is
#   args | expected exit code | expected stderr substring (may be empty)
# Args are split by the shell (quotes allowed); {TMP} is a scratch folder.
IDIM=${IDIM:-./idim}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    args=$(printf '%s' "$line" | awk -F' \\| ' '{print $1}' | sed "s|{TMP}|$TMP|g")
    want=$(printf '%s' "$line" | awk -F' \\| ' '{print $2}')
    msg=$(printf '%s' "$line" | awk -F' \\| ' '{print $3}')
    eval "set -- $args"
    "$IDIM" "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?
    if [ "$rc" != "$want" ]; then
        echo "cli FAIL: idim $args: exit $rc, expected $want"; sed 's/^/    /' "$TMP/err"; fail=$((fail+1)); continue
    fi
    if [ -n "$msg" ] && ! grep -qF -- "$msg" "$TMP/err"; then
        echo "cli FAIL: idim $args: stderr lacks '$msg'"; sed 's/^/    /' "$TMP/err"; fail=$((fail+1)); continue
    fi
    pass=$((pass+1))
done < tests/cli_cases.txt
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
