#!/bin/sh
# `meson install` into a scratch root, then build and link a program against
# the installed headers and library through pkg-config only.
set -e
build=$1
src=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
pc=$(find "$root" -name uvfio.pc | head -n 1)
[ -n "$pc" ] || { echo "uvfio.pc not installed"; exit 1; }
for h in uvfio.h wire.h codec.h server.h client.h common.h; do
	[ -n "$(find "$root" -path "*/include/uvfio/$h")" ] || { echo "header $h not installed"; exit 1; }
done
[ -n "$(find "$root" -name 'libuvfio.so.0*')" ] || { echo "libuvfio.so.0 not installed"; exit 1; }
[ -n "$(find "$root" -name libuvfio.a)" ] || { echo "libuvfio.a not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$root
libdir=$(dirname "$(find "$root" -name 'libuvfio.so' | head -n 1)")
cc -std=gnu11 -Wall -Werror $(pkg-config --cflags uvfio) \
	"$src/samples/skeleton-client.c" -o "$root/client" \
	$(pkg-config --libs uvfio) -Wl,-rpath,"$libdir"
# The headers alone, under strict flags, in C and C++, with every compiler
# that is here (C++ has no flexible array members, hence no -Wpedantic).
printf '#include <uvfio/uvfio.h>\nint main(void) { return 0; }\n' >"$root/h.c"
for c in "cc -std=c11 -Wpedantic" "cc -std=gnu11 -Wpedantic" \
	"clang -std=c11 -Wpedantic" "c++ -std=c++17 -x c++" \
	"clang++ -std=c++17 -x c++"; do
	command -v "${c%% *}" >/dev/null 2>&1 || continue
	$c -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags uvfio) \
		"$root/h.c" ||
		{ echo "install: the headers do not build with: $c"; exit 1; }
done
"$root/client" --help >/dev/null 2>&1 || true
LD_LIBRARY_PATH=$libdir "$root/client" /nonexistent.sock 2>/dev/null && { echo "client should fail"; exit 1; }
echo "install: headers, libuvfio.so.0, libuvfio.a and uvfio.pc usable"
