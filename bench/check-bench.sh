#!/bin/sh
# A bench as a smoke test: it runs (--quick --runs 1, then any further
# arguments), exits 0, and prints nothing but "name=value unit" lines.
# The figures are not judged.
#   check-bench.sh BENCH [ARG...]
set -e
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bench=$1
shift
"$bench" --quick --runs 1 "$@" >"$out"
test -s "$out" || { echo "check-bench: no output" >&2; exit 1; }
if grep -Ev '^[a-z0-9_]+=[0-9.]+ [a-zA-Z/%x]+$' "$out" >&2; then
	echo "check-bench: the lines above are not name=value unit" >&2
	exit 1
fi
echo "check-bench: $(wc -l <"$out") figures"
