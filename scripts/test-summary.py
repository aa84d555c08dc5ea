#!/usr/bin/env python3
"""Print one 'N passed, N failed' line per meson test log given, and a total.

A log that is missing (its build failed, so no test ran) counts as one
failure: the total can never look clean when a step did not run.
"""
import json
import os
import sys

total_ok = total_fail = total_skip = 0
for path in sys.argv[1:]:
    ok = fail = skip = 0
    name = path.split("/meson-logs/")[0]
    if not os.path.exists(path):
        print(f"{name}: no test log ({path}): the build or the step failed")
        total_fail += 1
        continue
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                ok += 1
            elif r == "SKIP":
                skip += 1
            else:
                fail += 1
    print(f"{name}: {ok} passed, {fail} failed, {skip} skipped")
    total_ok, total_fail, total_skip = total_ok + ok, total_fail + fail, total_skip + skip
print(f"check: {total_ok} passed, {total_fail} failed, {total_skip} skipped")
sys.exit(1 if total_fail else 0)
