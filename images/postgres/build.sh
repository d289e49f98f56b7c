#!/usr/bin/env bash
# Builds a slim PostgreSQL image from Debian's own packages, with no container
# registry: mmdebstrap makes a Debian rootfs holding postgresql-$PG_MAJOR and
# `docker image import` turns it into an image. The image is labelled with a
# hash of this recipe and rebuilt only when the recipe changes.
#
#   images/postgres/build.sh            # PostgreSQL 15 on bookworm (default)
#   PG_MAJOR=17 images/postgres/build.sh  # PostgreSQL 17 on trixie
#
# The Debian mirror is read from this machine's apt sources; set
# DEBIAN_MIRROR to override it.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
case "$PG_MAJOR" in
  15) SUITE=bookworm ;;
  17) SUITE=trixie ;;
  *) echo "build.sh: PG_MAJOR must be 15 (bookworm) or 17 (trixie), not $PG_MAJOR" >&2; exit 2 ;;
esac
IMAGE=${IMAGE:-pgshard.local/postgres:$PG_MAJOR}

# The recipe is this script plus the inputs that change its output.
here=$(cd "$(dirname "$0")" && pwd)
recipe=$( { cat "$here/build.sh"; echo "$PG_MAJOR $SUITE"; } | sha256sum | cut -c1-16)

have=$(docker image inspect -f '{{ index .Config.Labels "pgshard.recipe" }}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
  echo "image $IMAGE is up to date (recipe $recipe)"
  exit 0
fi

mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local f uri
  # deb822 sources first, then one-line sources; the first main Debian archive wins.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v -- '-security' | head -n1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" \
      | grep -i debian | grep -v -- '-security' | head -n1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo "build.sh: no Debian mirror found in /etc/apt sources; set DEBIAN_MIRROR" >&2
  return 1
}

MIRROR=$(mirror)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building $IMAGE from $SUITE via $MIRROR (recipe $recipe)"
# Path excludes keep the image near 220 MB: docs, man pages and locales are
# dead weight, and LLVM is only there for JIT, so the JIT plugin and its
# bitcode go with it (leaving the plugin without LLVM breaks the first costly
# query). The package's own 15/main cluster is dropped: the harness runs initdb.
# docker import accepts no STOPSIGNAL here (Docker 20.10): the harness sets
# SIGINT (fast shutdown) on each container instead.
mmdebstrap --variant=minbase --include="postgresql-$PG_MAJOR" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM*' \
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libz3*' \
  --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*' \
  --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*' \
  --customize-hook="chroot \"\$1\" pg_dropcluster $PG_MAJOR main || true" \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  "$SUITE" "$work/rootfs.tar" "$MIRROR"

docker image import \
  --change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV PGDATA=/var/lib/postgresql/pgshard" \
  --change "USER postgres" \
  --change "WORKDIR /var/lib/postgresql" \
  --change "EXPOSE 5432" \
  --change "LABEL pgshard.recipe=$recipe" \
  --change 'ENTRYPOINT ["postgres"]' \
  "$work/rootfs.tar" "$IMAGE"

echo "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
