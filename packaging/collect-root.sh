#!/usr/bin/env bash
# Builds the root file system of a minimal spandump image in DEST: the binary, the
# shared libraries it and libpcap (loaded at run time for filter expressions) need,
# the dynamic loader, and an /etc/passwd with root and nobody (for -Z). Nothing else:
# no shell, no package manager. Used by the Containerfile's build stage and by
# image-from-binary.sh.
#
#   packaging/collect-root.sh BINARY DEST
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY DEST" >&2; exit 2; }
binary=$1 dest=$2

libpcap=$(ldconfig -p | awk '/libpcap\.so\.(0\.8|1) / { print $NF; exit }')
if [ -z "$libpcap" ]; then
    echo "$0: libpcap is not installed here (Debian: apt-get install libpcap0.8)" >&2
    exit 1
fi

mkdir -p "$dest/usr/bin" "$dest/etc" "$dest/tmp"
chmod 1777 "$dest/tmp"
install -m 0755 "$binary" "$dest/usr/bin/spandump"

# Every library (and the loader) ldd names for the binary and for libpcap, copied to
# the same path, links followed; libpcap also under its soname.
copy() {
    mkdir -p "$dest$(dirname "$1")"
    cp -L "$1" "$dest$1"
}
copy "$libpcap"
for object in "$binary" "$libpcap"; do
    ldd "$object" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }'
done | sort -u | while read -r lib; do copy "$lib"; done

cat >"$dest/etc/passwd" <<'PASSWD'
root:x:0:0:root:/:/nonexistent
nobody:x:65534:65534:nobody:/nonexistent:/nonexistent
PASSWD
cat >"$dest/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
