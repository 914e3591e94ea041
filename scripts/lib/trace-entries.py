# gdb script for scripts/build-small (run as `gdb -q -batch -x trace-entries.py`): which of a
# binary's functions one run executes. A one-shot breakpoint at the entry of every function in
# the binary's symbol table (nm); each hit is recorded and the breakpoint goes. It runs on the
# real CPU, so glibc's ifunc picks (evex, avx2...) and the vDSO paths are the host's own.
#
# A run under a breakpoint at every function is slow, and tetra's threads race (the exit path
# depends on which thread sees the guest's exit first): TRACE_KNOWN, when set, is a file of names
# already seen (an earlier trace's), which get no breakpoint, so a second run goes at nearly full
# speed and adds what the timing of a real run takes.
#
# Environment: TRACE_BIN (the binary), TRACE_ARGS (its arguments, with shell redirections),
# TRACE_OUT (written: the functions hit, one name a line, in the order first hit), TRACE_KNOWN.
import os
import subprocess

import gdb

binp, args, outp = os.environ["TRACE_BIN"], os.environ["TRACE_ARGS"], os.environ["TRACE_OUT"]
names = {}  # address in the file -> the first name nm gives there
nm = subprocess.run(["nm", "--defined-only", binp], capture_output=True, text=True, check=True)
for line in nm.stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[1] in "tTwWiI":
        names.setdefault(int(f[0], 16), f[2])
start = next(a for a, n in names.items() if n == "_start")
known = set()
if os.environ.get("TRACE_KNOWN"):
    with open(os.environ["TRACE_KNOWN"]) as f:
        known = set(f.read().split())
for c in ["set pagination off", "set confirm off", "set breakpoint always-inserted on",
          "handle all nostop noprint pass", "file " + binp, "starti " + args]:
    gdb.execute(c, to_string=True)
# Where the binary was loaded (a PIE): gdb knows once the process exists.
base = int(gdb.parse_and_eval("(long)&_start")) - start
for a in (a for a, n in names.items() if n not in known):
    gdb.Breakpoint("*%#x" % (base + a), internal=True, temporary=True)
hits = []
while gdb.selected_inferior().pid:
    try:
        gdb.execute("continue", to_string=True)
        pc = int(gdb.parse_and_eval("$pc")) - base
    except gdb.error:  # the process exited
        break
    if pc in names:
        hits.append(names[pc])
with open(outp, "w") as f:
    f.write("".join(n + "\n" for n in hits))
