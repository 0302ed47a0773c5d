#!/bin/sh
# `make install` into a temporary PREFIX (and again under DESTDIR), a
# program built against it with pkg-config alone, its soname, then
# `make uninstall` leaving no file behind. Run by `make test`.
# usage: test/install_test.sh [MAKE]
set -eu
make=${1:-make}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_test: FAIL: $*"; exit 1; }
prefix=$tmp/prefix
$make --no-print-directory -s install PREFIX="$prefix" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make install"; }
lib=$prefix/lib
for f in bin/derfseq lib/libderfseq.a lib/libderfseq.so lib/pkgconfig/derfseq.pc include/derfseq/derfseq.h \
         share/man/man1/derfseq.1; do
    [ -e "$prefix/$f" ] || fail "make install did not put $f"
done
soname=$(readelf -d "$lib/libderfseq.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libderfseq.so.0 ] || fail "SONAME is '$soname', want libderfseq.so.0"
[ "$(readlink "$lib/libderfseq.so.0")" = "libderfseq.so.$(cat VERSION)" ] || fail "libderfseq.so.0 link"
flags=$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs derfseq) || fail "pkg-config derfseq"
case " $flags " in *" -I$prefix/include "*) ;; *) fail "pkg-config flags lack -I$prefix/include: $flags";; esac
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/hello" test/install/hello.c $flags -lm || fail "building hello.c"
readelf -d "$tmp/hello" | grep -q 'NEEDED.*\[libderfseq.so.0\]' || fail "hello does not link libderfseq.so.0"
out=$(LD_LIBRARY_PATH=$lib "$tmp/hello") || fail "hello: $out"
case $out in "derf sum "*" max err "*) ;; *) fail "hello printed '$out'";; esac
$make --no-print-directory -s uninstall PREFIX="$prefix" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make uninstall"; }
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
# DESTDIR: everything lands under it, with PREFIX inside the .pc
$make --no-print-directory -s install DESTDIR="$tmp/stage" PREFIX=/opt/ds >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make install DESTDIR"; }
[ -e "$tmp/stage/opt/ds/lib/libderfseq.so.0" ] || fail "DESTDIR install"
grep -q '^prefix=/opt/ds$' "$tmp/stage/opt/ds/lib/pkgconfig/derfseq.pc" || fail "DESTDIR leaked into derfseq.pc"
$make --no-print-directory -s uninstall DESTDIR="$tmp/stage" PREFIX=/opt/ds >"$tmp/log" 2>&1 || fail "make uninstall DESTDIR"
left=$(find "$tmp/stage" ! -type d)
[ -z "$left" ] || fail "make uninstall DESTDIR left: $left"
echo "install_test: ok ($out; SONAME $soname)"
