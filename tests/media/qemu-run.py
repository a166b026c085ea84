#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run QEMU with its serial console on stdin/stdout (-serial stdio), keep
the console output in a log, answer prompts (expect style) and time events.

  qemu-run.py --log FILE --timeout S [--mark NAME=REGEX]... \
              [--expect REGEX --send TEXT]... -- qemu-system-x86_64 ...

--expect/--send pairs are handled in order: when REGEX matches the console
output since the previous match, TEXT is sent (\\r, \\n and \\e are
understood; "{wait:S}" first waits S seconds). --mark records the first time
REGEX is seen. Prints "mark NAME SECONDS" for each mark seen,
"expect-unmatched REGEX" for an expectation never met, "elapsed SECONDS",
then exits with QEMU's exit status, or 124 when the timeout killed it.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\r")


def unescape(s):
    return s.replace("\\r", "\r").replace("\\n", "\n").replace("\\e", "\x1b")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--mark", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no QEMU command")
    if len(a.expect) != len(a.send):
        ap.error("give as many --send as --expect")
    marks = []
    for m in a.mark:
        name, _, rx = m.partition("=")
        marks.append([name, re.compile(rx.encode()), None])
    expects = [(re.compile(e.encode()), unescape(s)) for e, s in zip(a.expect, a.send)]

    t0 = time.monotonic()
    log = open(a.log, "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    fd = p.stdout.fileno()
    text = b""        # console output without escape sequences
    exp_from = 0      # expectations match after this offset of text
    ei = 0
    timed_out = False
    while True:
        left = a.timeout - (time.monotonic() - t0)
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            if p.poll() is not None:
                break
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        log.write(data)
        log.flush()
        text += ANSI.sub(b"", data)
        now = time.monotonic() - t0
        for m in marks:
            if m[2] is None and m[1].search(text):
                m[2] = now
        while ei < len(expects):
            rx, send = expects[ei]
            mo = rx.search(text, exp_from)
            if not mo:
                break
            exp_from = mo.end()
            ei += 1
            w = re.match(r"\{wait:([0-9.]+)\}", send)
            if w:
                time.sleep(float(w.group(1)))
                send = send[w.end():]
            log.write(("\n[qemu-run: sending %r]\n" % send).encode())
            try:
                p.stdin.write(send.encode())
                p.stdin.flush()
            except BrokenPipeError:
                pass
    if timed_out:
        log.write(b"\n[qemu-run: timeout, killing QEMU]\n")
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(5)
        except Exception:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = 124
    else:
        # the rest of the output, and the exit
        try:
            rest = p.stdout.read()
            log.write(rest)
        except Exception:
            pass
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
    log.close()
    for name, _, t in marks:
        if t is not None:
            print("mark %s %.1f" % (name, t))
    for rx, _ in expects[ei:]:
        print("expect-unmatched %s" % rx.pattern.decode())
    print("elapsed %.1f" % (time.monotonic() - t0))
    sys.exit(rc)


if __name__ == "__main__":
    main()
