#!/bin/sh
# e2e_output.sh - every kind of output target, for every command that writes
# files (issue 12, finding 1 and 8): a regular file is replaced atomically; a
# symlink's target is replaced and the link kept; /dev/stdout, a FIFO and a
# character device are written in place (a full device - a private mknod copy
# of /dev/full's numbers in a temp folder, never the system's node - is exit
# 4 and stays a device); a folder, a missing parent and a read-only folder
# are exit 4; a killed run leaves no temp file and stale ones are removed;
# Ctrl-C while a FIFO has no reader is exit 130.
# Nothing outside the temp folder is written. Needs data/demo (committed).
IDIM=${IDIM:-./idim}
[ -f data/demo/train.tsv ] && [ -f data/demo/vocab.txt ] ||
    { echo "e2e_output: data/demo missing, skipped"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_output FAIL: $*"; exit 1; }
leftovers() { ls -a "$1" | grep -E '\.(tmp|run)\.[0-9]+$' && fail "$2: temp file left in $1"; }

"$IDIM" init --preset tiny --vocab data/demo/vocab.txt --seed 3 -o "$T/m.bin" >/dev/null || fail "init"
mkdir "$T/task"; head -n 41 data/demo/train.tsv >"$T/task/train.tsv"; head -n 21 data/demo/dev.tsv >"$T/task/dev.tsv"
C="--task mrpc --data $T/task --max-len 24 --threads 1 --quiet --epochs 1 --batch 8"
printf 'd,lr,metric,metric_name,epochs,seconds,diverged,majority_only,proj_seed\n10,0.003,0.5,accuracy,1,1,0,0,1\n100,0.003,0.7,accuracy,1,1,0,0,1\n' >"$T/sweep.csv"

# one writer per command; $1 is the output path
w_init() { "$IDIM" init --preset tiny --vocab-size 100 -o "$1"; }
w_convert() { "$IDIM" convert --hf tests/fixtures/hf/bert_f32 -o "$1"; }
w_theta() { "$IDIM" train --model "$T/m.bin" $C --d 20 --method did --lr 1e-2,3e-3 --save-theta "$1"; }
w_finetune() { "$IDIM" finetune --model "$T/m.bin" $C --lr 1e-3 --save-model "$1"; }
w_ftout() { "$IDIM" finetune --model "$T/m.bin" $C --lr 1e-3 --out "$1"; }
w_sweep() { "$IDIM" sweep --model "$T/m.bin" $C --method did --d 10 --no-baseline --out "$1"; }
w_plot() { "$IDIM" plot --in "$T/sweep.csv" --baseline 0.8 -o "$1"; }
WRITERS="w_init w_convert w_theta w_finetune w_ftout w_sweep w_plot"

# a private character device with /dev/full's numbers (root only)
HAVE_FULL=0
if [ "$(id -u)" = 0 ] && [ -c /dev/full ]; then
    maj=$(printf %d 0x"$(stat -c %t /dev/full)"); min=$(printf %d 0x"$(stat -c %T /dev/full)")
    mknod "$T/full" c "$maj" "$min" 2>/dev/null && HAVE_FULL=1
fi
[ $HAVE_FULL = 1 ] || echo "e2e_output: not root or no mknod: the full-device case is skipped"

mkdir "$T/dir"
for w in $WRITERS; do
    D="$T/$w"; mkdir "$D"
    # regular file, new then replaced; permission bits kept
    $w "$D/out" >/dev/null 2>"$T/err" || fail "$w regular: $(cat "$T/err")"
    [ -f "$D/out" ] && [ -s "$D/out" ] || fail "$w: no output"
    # the slower writers (training) skip the cases that only init and plot need
    full=0; case $w in w_init | w_plot | w_theta) full=1 ;; esac
    if [ $full = 1 ]; then
        chmod 640 "$D/out"
        $w "$D/out" >/dev/null 2>"$T/err" || fail "$w replace: $(cat "$T/err")"
        [ "$(stat -c %a "$D/out")" = 640 ] || fail "$w: replacing changed the mode to $(stat -c %a "$D/out")"
    fi
    # symlink: the target is replaced, the link stays a link
    mkdir "$D/real"; echo old >"$D/real/file"; ln -s real/file "$D/link"
    $w "$D/link" >/dev/null 2>"$T/err" || fail "$w symlink: $(cat "$T/err")"
    [ -L "$D/link" ] || fail "$w: the symlink was replaced by a file"
    [ "$(cat "$D/real/file")" != old ] || fail "$w: the symlink's target kept its old content"
    # a dangling symlink creates its target
    if [ $full = 1 ]; then
        ln -s real/new "$D/dangling"
        $w "$D/dangling" >/dev/null 2>"$T/err" || fail "$w dangling symlink: $(cat "$T/err")"
        [ -L "$D/dangling" ] && [ -s "$D/real/new" ] || fail "$w: dangling symlink not followed"
    fi
    # /dev/stdout: the bytes go to the shell's redirection, text to stderr
    $w /dev/stdout >"$D/stdout" 2>"$T/err" || fail "$w /dev/stdout: $(cat "$T/err")"
    cmp -s "$D/stdout" "$D/out" || [ $w = w_theta ] || [ $w = w_finetune ] || [ $w = w_ftout ] ||
        [ $w = w_sweep ] || fail "$w /dev/stdout: bytes differ from the file"
    [ -s "$D/stdout" ] || fail "$w /dev/stdout: nothing written"
    # FIFO: written in place, read by a reader
    mkfifo "$D/fifo"; cat "$D/fifo" >"$D/fromfifo" & rd=$!
    $w "$D/fifo" >/dev/null 2>"$T/err" || { kill $rd; fail "$w fifo: $(cat "$T/err")"; }
    wait $rd
    [ -p "$D/fifo" ] || fail "$w: the FIFO was replaced"
    [ -s "$D/fromfifo" ] || fail "$w fifo: the reader got nothing"
    # full device: exit 4, still a device
    if [ $HAVE_FULL = 1 ]; then
        $w "$T/full" >/dev/null 2>"$T/err"; rc=$?
        [ $rc -eq 4 ] || fail "$w full device: exit $rc, expected 4: $(cat "$T/err")"
        [ -c "$T/full" ] || fail "$w: the device node was replaced"
        grep -q "No space left" "$T/err" || fail "$w full device message: $(cat "$T/err")"
    fi
    # folder, missing parent: exit 4, nothing created
    $w "$T/dir" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 4 ] && [ -d "$T/dir" ] || fail "$w folder: exit $rc: $(cat "$T/err")"
    grep -q "is a folder" "$T/err" || fail "$w folder message: $(cat "$T/err")"
    if [ $full = 1 ]; then
        $w "$T/nope/out" >/dev/null 2>"$T/err"; rc=$?
        [ $rc -eq 4 ] && [ ! -e "$T/nope" ] || fail "$w missing parent: exit $rc: $(cat "$T/err")"
    fi
    leftovers "$D" "$w"
done
[ -z "$(ls -A "$T/dir")" ] || fail "something was written into the folder target"

# a socket is refused (python makes one; skipped without python3)
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$T/sock"
    w_init "$T/sock" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 4 ] && [ -S "$T/sock" ] && grep -q "a socket" "$T/err" || fail "socket: exit $rc: $(cat "$T/err")"
fi

# a FIFO nobody reads: open(2) waits for a reader; Ctrl-C ends the wait as an
# interruption (exit 130, a message saying so), not as a write error (4)
mkfifo "$T/lonely"
"$IDIM" init --preset tiny --vocab-size 100 -o "$T/lonely" >/dev/null 2>"$T/err" & wp=$!
sleep 1; kill -INT $wp; wait $wp; rc=$?
[ $rc -eq 130 ] && grep -q "interrupted while waiting for a reader" "$T/err" && [ -p "$T/lonely" ] ||
    fail "Ctrl-C while a FIFO has no reader: exit $rc (expected 130): $(cat "$T/err")"

# a read-only folder. root bypasses permission bits, so as root the check
# runs as the unprivileged user nobody (setpriv); without a way to drop
# privileges it is skipped, said here, rather than faked.
mkdir -p "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
    w_init "$T/ro/out" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 4 ] && [ ! -e "$T/ro/out" ] || fail "read-only folder: exit $rc"
elif command -v setpriv >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups "$IDIM" --version >/dev/null 2>&1; then
    chmod 755 "$T"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$IDIM" init --preset tiny --vocab-size 100 \
        -o "$T/ro/out" >/dev/null 2>"$T/err.ro"; rc=$?
    [ $rc -eq 4 ] && [ ! -e "$T/ro/out" ] || fail "read-only folder (as nobody): exit $rc: $(cat "$T/err.ro")"
    grep -q "Permission denied" "$T/err.ro" || fail "read-only folder message: $(cat "$T/err.ro")"
    # an existing file in it is not replaced either
    chmod 755 "$T/ro"; echo keep >"$T/ro/out"; chmod 666 "$T/ro/out"; chmod 555 "$T/ro"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$IDIM" init --preset tiny --vocab-size 100 \
        -o "$T/ro/out" >/dev/null 2>"$T/err.ro"; rc=$?
    [ $rc -eq 4 ] && [ "$(cat "$T/ro/out")" = keep ] || fail "read-only folder, existing file: exit $rc"
    chmod 700 "$T"
else
    echo "e2e_output: root without setpriv: the read-only folder case is skipped"
fi

# finding 8: a stale temp file of a killed run (a pid that no longer runs) is
# removed by the next write; one of a running process is left alone.
echo stale >"$T/m2.bin.tmp.4194999"; echo stale >"$T/m2.bin.run.4194998"; echo live >"$T/m2.bin.tmp.$$"
w_init "$T/m2.bin" >/dev/null || fail "init m2"
[ ! -e "$T/m2.bin.tmp.4194999" ] && [ ! -e "$T/m2.bin.run.4194998" ] || fail "stale temp files not removed"
[ -e "$T/m2.bin.tmp.$$" ] || fail "a running process's temp file was removed"
rm -f "$T/m2.bin.tmp.$$"
# kill -9 in the middle of writing a large file leaves nothing visible: wait
# until the process holds its (anonymous or named) temp file open, then kill
mkdir "$T/k"
"$IDIM" init --preset tiny --vocab-size 400000 -o "$T/k/big.bin" >/dev/null 2>&1 & pid=$!
i=0; while [ $i -lt 400 ] && kill -0 $pid 2>/dev/null; do
    ls -l /proc/$pid/fd 2>/dev/null | grep -q "$T/k/" && break; sleep 0.02; i=$((i + 1)); done
# killed only when the exit status says so: a process that finished between
# the look at its fds and the kill is a zombie, and kill succeeds on it too
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; [ $? -eq 137 ] && killed=1 || killed=0
[ $killed = 1 ] || echo "e2e_output: init finished before it could be killed; kill -9 case not exercised"
n=$(ls -A "$T/k" | grep -v '^big\.bin$' | wc -l)
[ "$n" -eq 0 ] || fail "kill -9 left $(ls -A "$T/k")"
[ $killed = 0 ] || [ ! -e "$T/k/big.bin" ] || fail "kill -9 mid-write left a big.bin"
# names from the user or an input file printed directly (not as an error)
# are escaped: a path with ESC and a byte that is not UTF-8 (issue 12, finding 6)
E="$T/$(printf 'e\033[2Jx\377').bin"
"$IDIM" init --preset tiny --vocab-size 100 -o "$E" >"$T/esc.out" 2>&1 || fail "init to an odd name"
"$IDIM" info "$E" >>"$T/esc.out" 2>&1 || fail "info of an odd name"
[ "$(grep -c 'e\\x1b\[2Jx\\xff\.bin' "$T/esc.out")" = 2 ] || fail "init/info did not escape the path: $(cat -v "$T/esc.out" | head -3)"
LC_ALL=C grep -q "$(printf '\033')" "$T/esc.out" && fail "a raw ESC reached the terminal"
# finding 2: --state naming an endless device (a private copy of /dev/zero's
# numbers, made in the temp folder) is read only up to the state limit, then
# refused with exit 3; the device stays a device
if [ "$(id -u)" = 0 ] && [ -c /dev/zero ]; then
    maj=$(printf %d 0x"$(stat -c %t /dev/zero)"); min=$(printf %d 0x"$(stat -c %T /dev/zero)")
    if mknod "$T/zero" c "$maj" "$min" 2>/dev/null; then
        "$IDIM" sweep --model "$T/m.bin" $C --method did --d 10 --no-baseline --state "$T/zero" \
            >/dev/null 2>"$T/err"; rc=$?
        [ $rc -eq 3 ] && grep -q "zero: more than 268435456 bytes" "$T/err" ||
            fail "--state on an endless device: exit $rc: $(cat "$T/err")"
        [ -c "$T/zero" ] || fail "--state replaced the device"
    fi
else
    echo "e2e_output: not root: the endless --state device case is skipped"
fi
echo "e2e_output: ok"
exit 0
