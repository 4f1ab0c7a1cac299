#!/usr/bin/env python3
"""sigint_during.py [--stderr TEXT] [--file PATH] [--cpu S] [--more-cpu S] [--timeout S] -- CMD...

Runs CMD (stdout to CMD.out, stderr to CMD.err in the current folder, or the
paths of --out/--err), waits until every given condition holds - TEXT appears
in its stderr, PATH exists and is not empty, the process has used S seconds
of CPU; then, with --more-cpu, until it has used S more seconds - then
sends SIGINT and waits for it. Prints one line:
  rc=N signalled=0|1 lines=L cpu_after=X wall_after=Y
(L: lines of PATH when the signal was sent; cpu_after/wall_after: CPU and
wall seconds from the signal to the exit).
signalled=0: CMD ended before the conditions held (no signal was sent).
Used by tests/e2e_interrupt.sh (which checks rc, messages and outputs, never
the times) and to measure how fast Ctrl-C acts."""
import os, signal, subprocess, sys, time

def main():
    a = sys.argv[1:]
    opt = {"--stderr": None, "--file": None, "--cpu": "0", "--more-cpu": "0", "--timeout": "120",
           "--out": "cmd.out", "--err": "cmd.err"}
    while a and a[0] != "--":
        opt[a[0]] = a[1]
        a = a[2:]
    cmd = a[1:]
    tck = os.sysconf("SC_CLK_TCK")
    out, err = open(opt["--out"], "wb"), open(opt["--err"], "wb")
    p = subprocess.Popen(cmd, stdout=out, stderr=err)
    t_end = time.time() + float(opt["--timeout"])

    def cpu():
        f = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / tck

    while True:
        if p.poll() is not None:
            print("rc=%d signalled=0 lines=0 cpu_after=0 wall_after=0" % p.returncode)
            return
        ok = True
        if opt["--stderr"]:
            with open(opt["--err"], "rb") as e:
                ok = opt["--stderr"].encode() in e.read()
        if ok and opt["--file"]:
            ok = os.path.exists(opt["--file"]) and os.path.getsize(opt["--file"]) > 0
        try:
            c0 = cpu()
        except OSError:
            continue
        if ok and c0 >= float(opt["--cpu"]):
            if "more" not in opt:
                opt["more"] = c0 + float(opt["--more-cpu"])
            if c0 >= opt["more"]:
                break
        if time.time() > t_end:
            p.kill()
            p.wait()
            print("rc=%d signalled=0 lines=0 cpu_after=0 wall_after=0 (timeout)" % p.returncode)
            return
        time.sleep(0.005)
    lines = 0
    if opt["--file"]:
        with open(opt["--file"], "rb") as f:
            lines = f.read().count(b"\n")
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.time()
    print("rc=%d signalled=1 lines=%d cpu_after=%.3f wall_after=%.3f" %
          (os.waitstatus_to_exitcode(status), lines, ru.ru_utime + ru.ru_stime - c0, t1 - t0))

main()
