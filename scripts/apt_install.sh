#!/usr/bin/env bash
# Install one Debian package for a local tool (Java for local Spark, Chromium for the browser tests), quietly, with
# sudo unless root. Usage: scripts/apt_install.sh PACKAGE "what needs it". Its output goes to a log it names on failure.
set -euo pipefail
package=$1 purpose=$2
if ! command -v apt-get > /dev/null; then
  echo "$purpose needs $package; install it and rerun" >&2
  exit 1
fi
echo "Installing $package for $purpose..."
sudo=$([[ "$(id -u)" == 0 ]] || echo sudo)
log=$(mktemp)
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package"; } > "$log" 2>&1; then
  echo "Could not install $package with apt-get (log: $log); install it and rerun" >&2
  exit 1
fi
