# uvfio - everything goes through meson/ninja; this file only sequences it.
#   make          build into build/
#   make check    build and run every test with gcc, again under ASan+UBSan,
#                 again built with clang, then clang's static analyzer on src/
#                 and compat/libvfio-user/src/
#   make demo     build, start a sample device and drive it with the client
# Missing build dependencies are installed first (apt-get, as root).

BUILD          ?= build
ASAN_BUILD     ?= build-asan
CLANG_BUILD    ?= build-clang
ANALYZER_BUILD ?= build-analyzer
MESON_OPTS     ?=
# Extra C flags of the clang build (none needed today).
CLANG_C_ARGS   ?=

.PHONY: all deps build check test asan clang analyze demo install clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) $(MESON_OPTS)
	@ninja -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

# Each step removes its old test log first: a step that fails before its
# tests run leaves none, and test-summary.py counts that as a failure.
asan: deps
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) $(MESON_OPTS) \
		-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all
	@rm -f $(ASAN_BUILD)/meson-logs/testlog.json
	@ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C $(ASAN_BUILD) --print-errorlogs

# The whole tree and every test again, compiled by clang (installed with
# apt-get when missing, the package make fuzz uses), warnings as errors.
clang:
	@scripts/install-deps.sh clang
	@test -f $(CLANG_BUILD)/build.ninja || CC=clang meson setup $(CLANG_BUILD) \
		$(MESON_OPTS) -Dc_args="$(CLANG_C_ARGS)"
	@rm -f $(CLANG_BUILD)/meson-logs/testlog.json
	@ninja -C $(CLANG_BUILD)
	meson test -C $(CLANG_BUILD) --print-errorlogs

# clang's static analyzer (scan-build's) over the libraries (src/ and
# compat/libvfio-user/src/); fails on
# any finding not triaged in scripts/analyzer-baseline.txt.
analyze:
	@scripts/install-deps.sh clang
	@scripts/analyze.py $(ANALYZER_BUILD)

# CI runs this (.ci/run).  Every step runs even if one before failed; the
# last line counts the tests of all four (the analyzer as one test).
check: build
	@rc=0; \
	rm -f $(BUILD)/meson-logs/testlog.json; \
	meson test -C $(BUILD) --print-errorlogs || rc=1; \
	$(MAKE) --no-print-directory asan || rc=1; \
	$(MAKE) --no-print-directory clang || rc=1; \
	$(MAKE) --no-print-directory analyze || rc=1; \
	scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
		$(ASAN_BUILD)/meson-logs/testlog.json \
		$(CLANG_BUILD)/meson-logs/testlog.json \
		$(ANALYZER_BUILD)/meson-logs/testlog.json || rc=1; \
	exit $$rc

demo: build
	@scripts/demo.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CLANG_BUILD) $(ANALYZER_BUILD)

# make bench: build, then measure with the defaults (docs/performance.md):
# the protocol (uvfio-bench), then block I/O through uvfio-nvme
# (uvfio-bench-nvme, built when liburing is there, which deps installs).
# Not part of check, which only runs the benches' --quick smoke tests.
.PHONY: bench
bench: build
	$(BUILD)/bench/uvfio-bench
	@if test -x $(BUILD)/bench/uvfio-bench-nvme; then \
		echo "$(BUILD)/bench/uvfio-bench-nvme"; \
		$(BUILD)/bench/uvfio-bench-nvme; \
	else \
		echo "bench: no uvfio-bench-nvme (liburing missing when $(BUILD) was set up)" >&2; \
		exit 1; \
	fi

# make fuzz: libFuzzer harnesses (fuzz/) built with clang, ASan and UBSan
# into build-fuzz/, each run FUZZ_SECONDS (default 60); docs/hardening.md.
.PHONY: fuzz
fuzz: deps
	@scripts/fuzz.sh

# make valgrind: the integration tests under valgrind memcheck (installed
# with apt-get when missing), on a plain debug build in build-valgrind/.
# Fails on any memcheck error or definite leak.  Which tests and why:
# scripts/valgrind.sh and docs/hardening.md.
.PHONY: valgrind
VALGRIND_BUILD ?= build-valgrind
valgrind: deps
	@scripts/valgrind.sh $(VALGRIND_BUILD)
