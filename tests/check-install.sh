#!/bin/sh
# `meson install` into a scratch root, then build and link a program against
# the installed headers and library through pkg-config only, and run it: it
# must load the installed libuvfio.so.0, fail cleanly without a server, and
# drive the skeleton device ($build/samples/uvfio-skeleton).
set -e
build=$1
src=$2
root=$(mktemp -d)
spid=
cleanup() {
	[ -z "$spid" ] || { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
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
# A sanitized build installs a sanitized library: the program must carry the
# same runtime, or it cannot even be loaded.
san=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"][0])')
sanflags=
[ "$san" = none ] || sanflags="-fsanitize=$san"
cc -std=gnu11 -Wall -Werror $sanflags $(pkg-config --cflags uvfio) \
	"$src/samples/skeleton-client.c" -o "$root/client" \
	$(pkg-config --libs uvfio) -Wl,-rpath,"$libdir"
# The headers alone, under strict flags, in C and C++, with every compiler
# that is here (C++ has no flexible array members, hence no -Wpedantic).
printf '#include <uvfio/uvfio.h>\nint main(void) { return 0; }\n' >"$root/h.c"
compilers=
for c in "cc -std=c11 -Wpedantic" "cc -std=gnu11 -Wpedantic" \
	"clang -std=c11 -Wpedantic" "c++ -std=c++17 -x c++" \
	"clang++ -std=c++17 -x c++"; do
	command -v "${c%% *}" >/dev/null 2>&1 || continue
	$c -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags uvfio) \
		"$root/h.c" ||
		{ echo "install: the headers do not build with: $c"; exit 1; }
	compilers="$compilers, ${c% -x c++}"
done
echo "install: the headers build with ${compilers#, }"
# The program runs on the installed library, not the build's (which meson
# test puts in LD_LIBRARY_PATH, ahead of the program's runpath).
unset LD_LIBRARY_PATH
ldd "$root/client" | grep -q "libuvfio\.so\.0 => $libdir/" ||
	{ echo "install: the client does not load $libdir/libuvfio.so.0:"; ldd "$root/client"; exit 1; }
out=$("$root/client" --help) ||
	{ echo "install: client --help failed: $out"; exit 1; }
[ "$out" = "usage: uvfio-skeleton-client SOCKET_PATH" ] ||
	{ echo "install: client --help printed: $out"; exit 1; }
# No server: exit status 1, the library's connect error (a loader failure
# would be 127).
rc=0
out=$("$root/client" "$root/none.sock" 2>&1) || rc=$?
case "$rc $out" in
"1 "*"cannot talk to $root/none.sock: No such file or directory"*) ;;
*) echo "install: client without a server: exit $rc, $out"; exit 1 ;;
esac
# Against the skeleton device: negotiation, device and region info, config
# space, BAR0 written and read back, reset; all through the installed
# library.
server=$build/samples/uvfio-skeleton
[ -x "$server" ] || { echo "install: $server is not built (ninja -C $build)"; exit 1; }
. "$src/tests/wait-connect.sh"
"$server" --socket-path="$root/dev.sock" &
spid=$!
wait_connect "$root/dev.sock" $spid
rc=0
out=$("$root/client" "$root/dev.sock" 2>&1) || rc=$?
case "$rc $out" in
"0 negotiated: "*"read back 0x1122334455667788: ok"*"reset: ok") ;;
*) echo "install: client against uvfio-skeleton: exit $rc:"; echo "$out"; exit 1 ;;
esac
echo "install: headers, libuvfio.so.0, libuvfio.a and uvfio.pc usable; a program built on them drives uvfio-skeleton"
