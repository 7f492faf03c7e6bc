#!/usr/bin/env bash
# The dependency rule of ARCHITECTURE.md, checked on the resolved graph:
#   session-core   depends on no workspace crate and on no storage engine;
#   mcp-tools      depends on session-core only: never on an adapter or a storage engine;
#   adapters       never depend on mcp-tools or mcp-server;
#   store-open     (the backend opener) depends on the port and the adapters only: never on
#                  mcp-tools, mcp-server or rmcp;
#   nothing        depends on mcp-server.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
forbid() { # crate, pattern, why
  local tree
  tree=$(cargo tree --locked -p "$1" -e normal,build --prefix none --format '{p}' 2>/dev/null | sort -u)
  if grep -Eq "$2" <<<"$tree"; then
    echo "forbidden dependency edge: $1 -> $(grep -E "$2" <<<"$tree" | head -3 | tr '\n' ' ') ($3)"
    fail=1
  fi
}

forbid session-core '^(redb|sled|reqwest|session-redb|session-sled|session-etcd|mcp-tools|mcp-server|rmcp) ' \
  "session-core is the pure domain and port"
forbid mcp-tools '^(redb|sled|reqwest|session-redb|session-sled|session-etcd|mcp-server) ' \
  "mcp-tools depends on the port only; the server picks the backend"
for adapter in session-redb session-sled session-etcd; do
  forbid "$adapter" '^(mcp-tools|mcp-server|rmcp) ' "adapters know nothing of the protocol"
done
forbid store-open '^(mcp-tools|mcp-server|rmcp) ' \
  "store-open opens storage; it knows neither the workflow nor the protocol"
for crate in session-core session-redb session-sled session-etcd store-open mcp-tools xtask; do
  forbid "$crate" '^mcp-server ' "nothing depends on mcp-server"
done

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "dependency edges: ok"
