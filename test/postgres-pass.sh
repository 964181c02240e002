#!/usr/bin/env bash
# The contract suites (test/http, test/mcp) again, every server in cluster mode on a throwaway
# PostgreSQL (KOOR_TEST_BACKEND=postgres; see test/helpers/server.ts). npm test runs it after the
# main pass, whose cluster tests install Debian's postgresql when it is absent and this is root.
# Without PostgreSQL server binaries or root it says why and skips: it never passes silently.
set -uo pipefail
cd "$(dirname "$0")/.."
pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_ctl" ]; then
  echo "# PostgreSQL pass SKIPPED: no PostgreSQL server binaries (apt-get install postgresql)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! id postgres >/dev/null 2>&1; then
  echo "# PostgreSQL pass SKIPPED: starting a throwaway PostgreSQL needs root and the postgres user"
  exit 0
fi
echo "# PostgreSQL pass: test/http and test/mcp with every server on PostgreSQL ($pg_ctl)"
KOOR_TEST_BACKEND=postgres exec npx tap test/http test/mcp
