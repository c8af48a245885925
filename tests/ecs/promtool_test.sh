#!/usr/bin/env bash
# promtool (Debian's prometheus package) checks the alert rules, runs their unit tests and checks
# the scrape config.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v promtool >/dev/null || { echo "promtool missing: apt-get install prometheus (ecs/local/install-deps.sh)"; exit 1; }
cd "$root/ecs/monitoring/prometheus"
promtool check rules sidecar-alerts.yml
promtool test rules sidecar-alerts.test.yml
promtool check config --syntax-only prometheus.yml
