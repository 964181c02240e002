#!/usr/bin/env bash
# The contract suites (test/http, test/mcp) again in cluster mode, plus one CLI file as a smoke
# test: every server a test starts is two koor nodes on one throwaway PostgreSQL behind a
# round-robin balancer, so each request of a test may land on another node
# (KOOR_TEST_BACKEND=cluster; see test/helpers/server.ts and test/helpers/round-robin.ts). Tests
# that read figures a node keeps for itself run on one node, still on PostgreSQL, and say why.
# The CLI is a plain HTTP and WebSocket client of the routes test/http covers here (its `wait` and
# `events subscribe` are the inbox's and the event log's subscriptions, woken across nodes in
# http/inbox and http/subscribe), so of test/cli only state-watch.test (a watch resumed across a
# restart of a node on PostgreSQL) runs again; the other CLI files run once, in the main pass
# (coord and inbox ran here too: ~100 s of the pass, each command a process of its own, for
# routes this pass already crosses nodes on). Of test/http, the
# files of the listener alone (the Host/Origin guard, the body cap, the per-node rate limit, TLS,
# which every case of tls.test ran on one node) run once too: what they check is decided before
# any database.
# Runs the compiled suite (dist/test, built by `npm run build:test`). npm test runs this after the
# main pass; tap's setup step (test/setup/install.ts) installs Debian's postgresql when it is
# absent and this is root.
# Without PostgreSQL server binaries or root it says why and skips: it never passes silently.
set -uo pipefail
cd "$(dirname "$0")/.."
pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_ctl" ]; then
  echo "# Cluster pass SKIPPED: no PostgreSQL server binaries (apt-get install postgresql)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! id postgres >/dev/null 2>&1; then
  echo "# Cluster pass SKIPPED: starting a throwaway PostgreSQL needs root and the postgres user"
  exit 0
fi
echo "# Cluster pass: test/http (but the listener's own files), test/mcp and test/cli/state-watch on 2 nodes per server, one PostgreSQL ($pg_ctl)"
# Three files at a time, as in the main pass (package.json's tap.jobs): with two, the machine's two
# cores idled ~9 % of the pass (a file's requests wait on PostgreSQL's round trips); three kept
# them ~96 % busy and took the pass from 467 to 426 s, same session. One PostgreSQL for the whole pass
# (test/setup/shared-postgres.ts), each test server on a database of its own on it.
http=$(ls dist/test/http/*.test.js | grep -vE '/(host-origin|body-limit|rate-limit|tls)\.test\.js$')
[ -n "$http" ] || { echo "# Cluster pass: no dist/test/http files (npm run build:test first)"; exit 1; }
KOOR_TEST_BACKEND=cluster exec node dist/test/setup/shared-postgres.js test/tap-pass.sh --jobs=3 $http dist/test/mcp dist/test/cli/state-watch.test.js
