#!/usr/bin/env python3
"""Print one 'N passed, N failed' line per meson test log given, and a total."""
import json
import sys

total_ok = total_fail = total_skip = 0
for path in sys.argv[1:]:
    ok = fail = skip = 0
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
    print(f"{path.split('/')[0]}: {ok} passed, {fail} failed, {skip} skipped")
    total_ok, total_fail, total_skip = total_ok + ok, total_fail + fail, total_skip + skip
print(f"check: {total_ok} passed, {total_fail} failed, {total_skip} skipped")
sys.exit(1 if total_fail else 0)
