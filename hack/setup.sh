#!/usr/bin/env bash
# Installs what ckubelet's build and tests need on a Debian host, idempotently: only missing
# packages are installed, and apt-get update runs only when something is missing.
#   hack/setup.sh          build + test tools: qemu-user-static, containerd, runc, and the C
#                          (cross) compilers with static libcs that the pause image is built with
#   hack/setup.sh --cgo    nothing more today: `ckubelet build --cgo` uses the same compilers
set -euo pipefail

want=(qemu-user-static containerd runc gcc libc6-dev gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross)
for arg in "$@"; do
  case "$arg" in
    --cgo) ;;
    *) echo "hack/setup.sh: unknown option $arg (known: --cgo)" >&2; exit 2 ;;
  esac
done

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
