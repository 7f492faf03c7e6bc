#!/usr/bin/env bash
# Files stay small enough to read in one sitting: no non-test source file over 500 lines.
# Counted: every *.rs under a crate's src/, up to its first `#[cfg(test)]` line (inline
# unit-test modules do not count). Files under tests/ (integration tests) do not count.
# Names every offending file with its count; exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=500
fail=0
while IFS= read -r -d '' file; do
  lines=$(awk '/^[[:space:]]*#\[cfg\(test\)\]/ { exit } { n++ } END { print n + 0 }' "$file")
  if [ "$lines" -gt "$limit" ]; then
    echo "too long: $file has $lines non-test lines (limit $limit): split it"
    fail=1
  fi
done < <(find . -path ./target -prune -o -path '*/node_modules' -prune -o \
  -path './*/src/*' -name '*.rs' -print0 | sort -z)

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "file sizes: ok (every non-test source file <= $limit lines)"
