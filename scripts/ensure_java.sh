#!/usr/bin/env bash
# Local Spark (make score ENGINE=spark, the Spark tests) needs Java 17 or newer. Install Debian's when it is missing;
# MWAA never needs it (on AWS, Spark runs on EMR Serverless).
set -euo pipefail
major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [[ -n "$major" && "$major" -ge 17 ]]; then
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "Java 17 or newer is needed for local Spark; install it (e.g. openjdk-17-jre-headless) and rerun" >&2
  exit 1
fi
echo "Installing Java 17 (openjdk-17-jre-headless) for local Spark..."
sudo=$([[ "$(id -u)" == 0 ]] || echo sudo)
log=$(mktemp)
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; } > "$log" 2>&1; then
  echo "Could not install Java 17 with apt-get (log: $log); install openjdk-17-jre-headless and rerun" >&2
  exit 1
fi
