#!/usr/bin/env python3
"""make analyze: clang's static analyzer over the libraries, src/ and
compat/libvfio-user/src/.

Usage: scripts/analyze.py [BUILD_DIR]     (default build-analyzer)

Configures BUILD_DIR with clang if needed (meson, -Dtests=false; nothing is
built there), then runs `clang --analyze` (the analyzer scan-build drives,
with the same default checkers) on every library source in its
compile_commands.json, one per core, longest first.  Each finding becomes
one line, its signature, free of line numbers:

    FILE: FUNCTION: CHECKER: MESSAGE

Findings whose signature matches an entry of scripts/analyzer-baseline.txt
have been triaged (false positives, or harmless findings whose fix is
pending, each with its reason); any other finding fails the run.  Each
entry is a "finding:" line holding a glob (fnmatch) over signatures and at
least one "reason:" line; entries that match nothing are named, so the file
is kept short.  ANALYZE_VERBOSE=1 prints the path the analyzer followed to
each new finding.

The result also goes to BUILD_DIR/meson-logs/testlog.json as one test in
meson's format, so scripts/test-summary.py counts it with the tests.

Triaged with clang 14 (Debian 12, what CI runs); another clang version
analyses differently and may report findings of its own.
"""
import fnmatch
import json
import os
import plistlib
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
BASELINE = os.path.join(HERE, "analyzer-baseline.txt")
CC = os.environ.get("ANALYZER_CC", "clang")


def configure(build):
    if os.path.exists(os.path.join(build, "compile_commands.json")):
        # A source added to a meson.build since the last run must be
        # analysed too: let ninja regenerate the build files (and with
        # them compile_commands.json) when they are out of date.
        r = subprocess.run(["ninja", "-C", build, "build.ninja"],
                           stdout=subprocess.DEVNULL)
        if r.returncode:
            sys.exit(f"analyze: cannot bring {build} up to date")
        return
    r = subprocess.run(["meson", "setup", build, "-Dtests=false",
                        "-Dbuildtype=debug"], cwd=SRC,
                       env=dict(os.environ, CC=CC), stdout=subprocess.DEVNULL)
    if r.returncode:
        sys.exit(f"analyze: cannot configure {build} with {CC}")


def library_commands(build):
    """(source, directory, arguments) of the libraries' sources: src/**.c
    and the libvfio-user compat layer's."""
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    src_dirs = (os.path.join(SRC, "src") + os.sep,
                os.path.join(SRC, "compat", "libvfio-user", "src") + os.sep)
    seen, out = set(), []
    for e in entries:
        path = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if not path.startswith(src_dirs) or path in seen:
            continue
        seen.add(path)
        # No object, no dependency file, no -Werror: the clang build checks
        # the warnings; only the analyzer's report is wanted here.
        args, skip = [], 0
        cmd = shlex.split(e["command"])
        if "clang" not in os.path.basename(cmd[0]):
            sys.exit(f"analyze: {build} compiles with {cmd[0]}, not clang: "
                     f"remove it (rm -rf {build}) and run again")
        for a in cmd:
            if skip:
                skip -= 1
            elif a in ("-o", "-MQ", "-MF", "-MT"):
                skip = 1
            elif a not in ("-MD", "-MMD", "-Werror"):
                args.append(a)
        out.append((path, e["directory"], args))
    # The slowest first, so two cores finish together.
    return sorted(out, key=lambda j: -os.path.getsize(j[0]))


def analyze_one(job):
    path, cwd, args = job
    fd, report = tempfile.mkstemp(suffix=".plist")
    os.close(fd)
    try:
        r = subprocess.run(args + ["--analyze", "--analyzer-output", "plist",
                                   "-o", report],
                           cwd=cwd, capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        if r.returncode:
            return path, [], r.stderr.strip().splitlines()[-20:] or \
                [f"{CC} exited with {r.returncode}"]
        with open(report, "rb") as f:
            data = f.read()
    finally:
        os.unlink(report)
    plist = plistlib.loads(data) if data else {}
    files = plist.get("files", [])
    found = []
    for d in plist.get("diagnostics", []):
        loc = d["location"]
        file = os.path.relpath(os.path.normpath(
            os.path.join(cwd, files[loc["file"]])), SRC)
        sig = "%s: %s: %s: %s" % (file, d.get("issue_context", "?"),
                                  d.get("check_name", "?"),
                                  d.get("description", ""))
        steps = [f"{os.path.relpath(os.path.join(cwd, files[p['location']['file']]), SRC)}"
                 f":{p['location']['line']}: {p.get('message', '')}"
                 for p in d.get("path", []) if p.get("kind") == "event"]
        found.append((sig, f"{file}:{loc['line']}", steps))
    return path, found, []


def read_baseline():
    entries, cur = [], None
    with open(BASELINE) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("finding:"):
                cur = {"glob": line[8:].strip(), "reasons": [], "line": n,
                       "used": 0}
                entries.append(cur)
            elif line.startswith("reason:") and cur:
                cur["reasons"].append(line[7:].strip())
            elif line.startswith(" ") and cur and cur["reasons"]:
                cur["reasons"][-1] += " " + line.strip()
            else:
                sys.exit(f"{BASELINE}:{n}: expected 'finding:', 'reason:' "
                         "or an indented continuation")
    for e in entries:
        if not "".join(e["reasons"]).strip():
            sys.exit(f"{BASELINE}:{e['line']}: a finding without a reason")
    return entries


def write_testlog(build, ok, secs, out):
    logdir = os.path.join(build, "meson-logs")
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, "testlog.json"), "w") as f:
        f.write(json.dumps({"name": "clang-analyzer",
                            "result": "OK" if ok else "FAIL",
                            "duration": round(secs, 1), "stdout": out}) + "\n")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                            else "build-analyzer")
    t0 = time.time()
    # A stale result must not count if this run dies on the way.
    try:
        os.unlink(os.path.join(build, "meson-logs", "testlog.json"))
    except FileNotFoundError:
        pass
    baseline = read_baseline()
    configure(build)
    jobs = library_commands(build)
    if not jobs:
        sys.exit(f"analyze: no library source in {build}/compile_commands.json")
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        results = list(pool.map(analyze_one, jobs))

    lines, failed = [], False
    findings = {}
    for path, found, errors in results:
        if errors:
            failed = True
            lines.append(f"analyze: {os.path.relpath(path, SRC)} does not "
                         "compile:")
            lines += ["  " + e for e in errors]
        for sig, where, steps in found:
            findings.setdefault(sig, []).append((where, steps))
    new = []
    for sig in sorted(findings):
        entry = next((e for e in baseline
                      if fnmatch.fnmatchcase(sig, e["glob"])), None)
        if entry:
            entry["used"] += len(findings[sig])
        else:
            new.append(sig)
    verbose = os.environ.get("ANALYZE_VERBOSE")
    for sig in new:
        lines.append("NEW " + ", ".join(sorted({w for w, _ in findings[sig]})))
        lines.append("    finding: " + sig)
        if verbose:
            for _, steps in findings[sig]:
                lines += ["      " + s for s in steps]
    for e in baseline:
        if not e["used"]:
            lines.append(f"analyze: baseline entry (line {e['line']}) matches "
                         f"nothing now, delete it: {e['glob']}")
    known = sum(e["used"] for e in baseline)
    secs = time.time() - t0
    lines.append(f"analyze: {len(jobs)} files, {known} triaged findings "
                 f"(scripts/analyzer-baseline.txt), {len(new)} new, "
                 f"{secs:.0f} s")
    if new:
        failed = True
        lines.append("analyze: fix each new finding or, if the analyzer is "
                     "wrong, add it with the reason to "
                     "scripts/analyzer-baseline.txt (ANALYZE_VERBOSE=1 shows "
                     "the analyzer's path)")
    out = "\n".join(lines)
    print(out, flush=True)
    write_testlog(build, not failed, secs, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
