#!/bin/sh
# Every option of every command's table (`idim --docs list`) appears in that
# command's --help, in the man page section of the command and in its bash
# completion arm; no command lists an option twice; the committed man page
# (docs/idim.1) and completion (scripts/idim.bash) equal what the tables
# generate now (`make docs` rewrites them); the completion parses in bash
# and completes a command's options.
IDIM=${IDIM:-./idim}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fail=0
say() { echo "e2e_docs: $*"; fail=1; }
"$IDIM" --docs list > "$TMP/list" || { echo "e2e_docs: idim --docs list failed"; exit 1; }
"$IDIM" --docs man > "$TMP/idim.1" || { echo "e2e_docs: idim --docs man failed"; exit 1; }
"$IDIM" --docs bash > "$TMP/idim.bash" || { echo "e2e_docs: idim --docs bash failed"; exit 1; }
[ "$(wc -l < "$TMP/list")" -gt 200 ] || say "only $(wc -l < "$TMP/list") options listed"
dups=$(cut -f1,2 "$TMP/list" | sort | uniq -d)
[ -z "$dups" ] || say "options listed twice: $dups"
cmp -s "$TMP/idim.1" docs/idim.1 || say "docs/idim.1 is stale: run 'make docs'"
cmp -s "$TMP/idim.bash" scripts/idim.bash || say "scripts/idim.bash is stale: run 'make docs'"
for cmd in $(cut -f1 "$TMP/list" | uniq); do
    "$IDIM" "$cmd" --help > "$TMP/help.$cmd" || say "$cmd --help failed"
    # the command's man section: from its .SS line to the next one
    awk -v c=".SS \"idim $cmd\"" '$0 == c {on=1; next} /^\.SS /{on=0} /^\.SH /{on=0} on' \
        "$TMP/idim.1" > "$TMP/man.$cmd"
    awk -v c="    $cmd)" '$0 == c {on=1} on {print} on && /esac ;;$/ {exit}' \
        "$TMP/idim.bash" > "$TMP/comp.$cmd"
done
while IFS="$(printf '\t')" read -r cmd long short arg; do
    grep -q -e "$long\\b" "$TMP/help.$cmd" || say "$cmd: $long is not in --help"
    mlong=$(printf '%s' "$long" | sed 's/-/\\\\-/g')
    grep -q -e "$mlong" "$TMP/man.$cmd" || say "$cmd: $long is not in the man page"
    grep -q -e "[ \"]$long[ \"]" "$TMP/comp.$cmd" || say "$cmd: $long is not in the completion"
    if [ "$short" != "." ]; then
        grep -qF -e "$short, $long" "$TMP/help.$cmd" || say "$cmd: $short is not in --help"
    fi
    if [ "$arg" != "." ]; then
        grep -qF -e "$long $arg" "$TMP/help.$cmd" || say "$cmd: $long $arg is not in --help"
    fi
done < "$TMP/list"
if command -v bash >/dev/null; then
    got=$(bash -c ". '$TMP/idim.bash'; COMP_WORDS=(idim check --tol); COMP_CWORD=2; _idim; echo \"\${COMPREPLY[*]}\"")
    [ "$got" = "--tolerance" ] || say "completing 'idim check --tol' gave '$got', expected --tolerance"
    got=$(bash -c ". '$TMP/idim.bash'; COMP_WORDS=(idim che); COMP_CWORD=1; _idim; echo \"\${COMPREPLY[*]}\"")
    [ "$got" = "check" ] || say "completing 'idim che' gave '$got', expected check"
fi
[ $fail -eq 0 ] && echo "e2e_docs: $(wc -l < "$TMP/list") options checked against --help, man page and completion"
exit $fail
