#!/usr/bin/env python3
"""Hostile messages the device refused, per command, as the hostile suite
checked them (an error reply with the expected errno, then a live device).

    scripts/hostile_counts.py [BUILD]

Runs `meson test --suite hostile` with UVFIO_HOSTILE_COUNTS set, then
prints one line per command and the total."""
import collections
import os
import subprocess
import sys
import tempfile

build = sys.argv[1] if len(sys.argv) > 1 else "build"
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "counts")
    env = dict(os.environ, UVFIO_HOSTILE_COUNTS=path)
    r = subprocess.run(["meson", "test", "-C", build, "--suite", "hostile",
                        "--num-processes", "1"], env=env,
                       stdout=subprocess.DEVNULL)
    if r.returncode:
        sys.exit("hostile_counts: the hostile suite failed")
    counts = collections.Counter()
    if os.path.exists(path):
        for line in open(path):
            name, n = line.split()
            counts[name] += int(n)
for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
    print(f"hostile {name}: {n} refused")
print(f"hostile total: {sum(counts.values())} refused over {len(counts)} commands")
