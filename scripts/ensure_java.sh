#!/usr/bin/env bash
# Local Spark (make score ENGINE=spark, the Spark tests) needs Java 17 or newer. Install Debian's when it is missing;
# MWAA never needs it (on AWS, Spark runs on EMR Serverless).
set -euo pipefail
major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [[ -n "$major" && "$major" -ge 17 ]]; then
  exit 0
fi
exec "$(dirname "$0")/apt_install.sh" openjdk-17-jre-headless "local Spark (Java 17 or newer)"
