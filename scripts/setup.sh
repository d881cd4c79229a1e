#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine with Node 20:
# Tarantool from Debian's packages (when missing) and the npm packages (when
# package-lock.json changed since the last install). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tarantool >/dev/null 2>&1; then
  echo "setup: installing tarantool from Debian's packages" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq tarantool >/dev/null
fi

stamp=node_modules/.package-lock.stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
