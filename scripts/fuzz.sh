#!/bin/sh
# make fuzz: build the libFuzzer harnesses of fuzz/ with clang, ASan and
# UBSan into build-fuzz/, then run each for FUZZ_SECONDS (default 60) on a
# copy of its committed seeds.  New corpus entries go to
# build-fuzz/corpus/NAME (never into the repository), crashing inputs to
# build-fuzz/artifacts/.  Exits non-zero if any harness reports a crash,
# leak, timeout or broken invariant.
#   FUZZ_SECONDS=600 make fuzz         longer runs
#   FUZZ_TARGETS="server client" ...   a subset (codec caps pci server client nvme)
#   FUZZ_BUILD=dir                     another build directory
set -e
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"codec caps pci server client nvme"}

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-dev), as for
# make check's clang build; installed with apt-get when clang is missing.
scripts/install-deps.sh clang

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzzing=true -Dtests=false \
		-Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null ||
	{ echo "uvfio: cannot configure $build with clang; does 'clang -fsanitize=fuzzer' link? (Debian: libclang-rt-dev)" >&2; exit 1; }
fi
exes=""
for t in $targets; do exes="$exes fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
if ! out=$(ninja -C "$build" -j2 $exes 2>&1); then
	printf '%s\n' "$out" >&2
	echo "uvfio: building the fuzzers in $build failed (see above)" >&2
	exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/artifacts"
rc=0
summary=""
for t in $targets; do
	corpus="$build/corpus/$t"
	log="$build/fuzz-$t.log"
	mkdir -p "$corpus"
	dict=""
	[ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
	echo "fuzz $t: ${secs}s (log: $log)"
	# shellcheck disable=SC2086
	if "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" $dict \
		"$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
		status=ok
	else
		status="FAILED: $(grep -m1 -E 'ERROR:|invariant violated|leak' "$log" || echo 'see log'); input: $(grep -m1 -oE "$build/artifacts/[a-z]+-(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+" "$log" || echo "see log")"
		rc=1
	fi
	# the final "#N DONE cov: X ft: Y" line, or the last status line
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	[ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]].* cov: ' "$log" | tail -1)
	execs=$(echo "$done_line" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(find "$corpus" -type f | wc -l)
	line="fuzz $t: execs ${execs:-?} cov ${cov:-?} ft ${ft:-?} corpus $corp files: $status"
	summary="$summary$line
"
done
printf '%s' "$summary"
if [ $rc -ne 0 ]; then
	echo "uvfio: a fuzzer found a problem: reproduce with $build/fuzz/fuzz_NAME INPUT, then add the input to fuzz/regressions/NAME/" >&2
fi
exit $rc
