#!/usr/bin/env bash
# The project's test command (README.md). Installs what it needs: NuGet packages and the Helia interop peer.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f tests/Interop/peer/package-lock.json ]; then
  (cd tests/Interop/peer && npm ci --no-audit --no-fund --loglevel=error)
fi
dotnet restore Bitswap.sln
dotnet build Bitswap.sln --no-restore -c Release
dotnet test Bitswap.sln --no-build -c Release --logger "console;verbosity=minimal" "$@"
