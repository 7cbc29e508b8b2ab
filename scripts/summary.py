#!/usr/bin/env python3
"""Prints one closing line for all test runs: 'N passed, N failed, N skipped'."""
import json
import os
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    log = os.path.join(build, 'meson-logs', 'testlog.json')
    if not os.path.exists(log):
        continue
    with open(log) as f:
        for line in f:
            r = json.loads(line).get('result', '')
            if r in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif r == 'SKIP':
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
