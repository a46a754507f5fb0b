#!/usr/bin/env bash
# The project's test command (README.md). Installs what it needs: NuGet packages and the Helia interop peer.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f tests/Interop/peer/package-lock.json ]; then
  (cd tests/Interop/peer && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f tests/Interop/rpc-client/package-lock.json ]; then
  (cd tests/Interop/rpc-client && npm ci --no-audit --no-fund --loglevel=error)
fi
dotnet restore Bitswap.sln
dotnet build Bitswap.sln --no-restore -c Release
log=$(mktemp)
set +e
dotnet test Bitswap.sln --no-build -c Release --logger "console;verbosity=minimal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line summing every test project's "Passed!/Failed!" summary.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
