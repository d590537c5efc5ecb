#!/usr/bin/env bash
# Builds a container image FROM scratch around a locally built spandump, with podman
# and no registry: the root file system of collect-root.sh (binary, its libraries,
# libpcap, the loader, /etc/passwd), running as nobody (65534) by default. Give the
# pod CAP_NET_RAW alone (deploy/).
#
#   cargo build --release
#   packaging/image-from-binary.sh target/release/spandump localhost/spandump:dev
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY TAG" >&2; exit 2; }
binary=$1 tag=$2
here=$(cd "$(dirname "$0")" && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

bash "$here/collect-root.sh" "$binary" "$context/root"
cat >"$context/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY root/ /
USER 65534:65534
ENTRYPOINT ["/usr/bin/spandump"]
CMD ["--help"]
CONTAINERFILE
podman build --quiet --tag "$tag" --file "$context/Containerfile" "$context"
