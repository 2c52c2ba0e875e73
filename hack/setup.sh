#!/usr/bin/env bash
# Installs what ckubelet's build and tests need on a Debian host, idempotently: only missing
# packages are installed, and apt-get update runs only when something is missing.
#   build: the C (cross) compilers with their libcs, for every platform, that pause and the
#          iptables mode selector (and --cgo) are built with, qemu-user-static to run foreign
#          binaries (UPX probes), upx-ucl
#   tests: containerd and runc, iproute2 (network namespaces), iptables (the CNI bridge and
#          portmap plugins containerd runs on the host), Debian's docker-registry;
#          qemu-system-x86, qemu-utils, mmdebstrap, e2fsprogs and the archive keyring (the VM node)
set -euo pipefail

want=(qemu-user-static containerd runc gcc libc6-dev gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross gcc-s390x-linux-gnu libc6-dev-s390x-cross
  iproute2 iptables docker-registry qemu-system-x86 qemu-utils mmdebstrap e2fsprogs debian-archive-keyring)
if [ $# -gt 0 ]; then
  echo "hack/setup.sh: takes no options" >&2
  exit 2
fi

if ! command -v go >/dev/null 2>&1; then
  echo "hack/setup.sh: the go command is missing; install Go 1.26 or newer (https://go.dev/dl) and put it on PATH" >&2
  exit 1
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "hack/setup.sh: missing packages ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "hack/setup.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# UPX packs the short-lived tools (kubeadm, crictl, CNI plugins). It is optional: without it the
# images ship unpacked binaries, so a failure here is reported and the script still succeeds.
upx_unavailable() {
  echo "hack/setup.sh: UPX is unavailable ($1); images will ship unpacked binaries" >&2
}

# debian_mirror_for SUITE prints the first URI of an enabled "deb" source for SUITE with component
# main, from the host's own apt configuration (deb822 .sources and one-line .list files), so the
# backports source uses the mirror the host already trusts rather than one named here.
debian_mirror_for() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        delete v; key = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          if ($i ~ /^[ \t]/) { if (key != "") v[key] = v[key] " " $i; continue }
          c = index($i, ":"); if (c == 0) continue
          key = tolower(substr($i, 1, c - 1)); v[key] = substr($i, c + 1)
        }
        if (tolower(v["enabled"]) ~ /^[ \t]*no[ \t]*$/) next
        if (!has(v["types"], "deb") || !has(v["suites"], suite) || !has(v["components"], "main")) next
        n = split(v["uris"], u, /[ \t]+/)
        for (j = 1; j <= n; j++) if (u[j] != "") { print u[j]; exit }
      }
      function has(list, word,   n, a, k) {
        n = split(list, a, /[ \t]+/)
        for (k = 1; k <= n; k++) if (a[k] == word) return 1
        return 0
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI suite component...; options may contain spaces inside the brackets.
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
      awk -v suite="$suite" '$1 == "deb" && $3 == suite { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }'
  done
}

install_upx() {
  if command -v upx >/dev/null 2>&1 || command -v upx-ucl >/dev/null 2>&1; then
    return 0
  fi
  local id="" codename="" log
  if [ -r /etc/os-release ]; then
    id=$(. /etc/os-release && echo "${ID:-}")
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  fi
  if [ "$id" != debian ]; then
    upx_unavailable "not a Debian host; install upx-ucl or upx yourself"
    return 0
  fi
  case "$codename" in
    buster | bullseye | "")
      upx_unavailable "Debian ${codename:-unknown} has no UPX 4; use bookworm or newer"
      return 0 ;;
  esac
  if [ "$(id -u)" -ne 0 ]; then
    upx_unavailable "upx-ucl is not installed; run hack/setup.sh as root to install it"
    return 0
  fi
  log=$(mktemp)
  if [ "$codename" = bookworm ]; then
    # bookworm main has no upx; bookworm-backports has upx-ucl 4.2.x, built for bookworm.
    local src=/etc/apt/sources.list.d/ckubelet-backports.sources mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg wrote=""
    mirror=$(debian_mirror_for bookworm | awk 'NR == 1')  # awk reads all: no SIGPIPE under pipefail
    if [ -z "$mirror" ]; then
      upx_unavailable "no bookworm source in the apt configuration to take the mirror from"
      rm -f "$log"; return 0
    fi
    if [ ! -f "$keyring" ]; then
      upx_unavailable "$keyring is missing (package debian-archive-keyring)"
      rm -f "$log"; return 0
    fi
    local want_src
    want_src=$(printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring")
    if [ ! -f "$src" ] || [ "$(cat "$src")" != "$want_src" ]; then
      printf '%s\n' "$want_src" >"$src"
      wrote=1
    fi
    echo "hack/setup.sh: installing upx-ucl from bookworm-backports" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports upx-ucl; } >"$log" 2>&1; then
      # Drop a source this run added, so a broken backports entry cannot fail later apt-get updates.
      [ -z "$wrote" ] || rm -f "$src"
      upx_unavailable "apt-get could not install upx-ucl from bookworm-backports: $(awk '/^[EW]:/ { print; exit }' "$log")"
      rm -f "$log"; return 0
    fi
  else
    # trixie and newer carry upx-ucl in the suite itself.
    echo "hack/setup.sh: installing upx-ucl" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends upx-ucl; } >"$log" 2>&1; then
      upx_unavailable "apt-get could not install upx-ucl: $(awk '/^[EW]:/ { print; exit }' "$log")"
      rm -f "$log"; return 0
    fi
  fi
  rm -f "$log"
}
install_upx
