#!/usr/bin/env bash
# Run a command with DATABASE_URL and REDIS_URL pointing at a throwaway
# PostgreSQL and Redis on loopback, started now and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'scripts/services.sh stop' EXIT
eval "$(scripts/services.sh start | sed 's/^/export /')"
echo "Using $DATABASE_URL and $REDIS_URL" >&2
export REQUIRE_SERVICES=true
"$@"
