#!/bin/sh
# Install what the build needs and is missing (Debian/Ubuntu, apt-get).
# Called by `make`, `make check` and `make demo`; silent when all is there.
#   scripts/install-deps.sh clang    clang too, with its sanitizer and
#                                    libFuzzer runtimes (make check's clang
#                                    build and analyzer, make fuzz)
set -e
need=""
have() { command -v "$1" >/dev/null 2>&1; }
for extra in "$@"; do
	case $extra in
	clang) have clang || need="$need clang libclang-rt-dev" ;;
	*) echo "install-deps.sh: unknown extra '$extra'" >&2; exit 2 ;;
	esac
done
have cc || need="$need gcc"
# The headers test compiles every public header as C++ too.
have c++ || need="$need g++"
have make || need="$need make"
have meson || need="$need meson"
have ninja || need="$need ninja-build"
have pkg-config || need="$need pkg-config"
have python3 || need="$need python3"
if have pkg-config; then
	pkg-config --exists 'json-c >= 0.15' || need="$need libjson-c-dev"
	pkg-config --exists cmocka || need="$need libcmocka-dev"
	# uvfio-nvme's I/O path and its benchmark floor (docs/nvme.md).
	pkg-config --exists liburing || need="$need liburing-dev"
else
	need="$need libjson-c-dev libcmocka-dev liburing-dev"
fi
[ -f /usr/include/linux/vfio.h ] || need="$need linux-libc-dev"
[ -n "$need" ] || exit 0

echo "uvfio: installing missing build dependencies:$need (apt-get)"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif have sudo; then
	sudo="sudo"
else
	echo "uvfio: not root and no sudo: please install:$need" >&2
	exit 1
fi
if ! have apt-get; then
	echo "uvfio: no apt-get on this system: please install the equivalents of:$need" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
echo "uvfio: dependencies installed"
