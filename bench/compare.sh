#!/usr/bin/env bash
# Helia → Helia, Helia → C#, C# → Helia and C# → C# through the CLIs, on one file in one run (see bench/compare.mjs).
# Usage: bench/compare.sh [--size-mib 64] [--chunk 262144] [--chunk 1048576] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
(cd tests/Interop/peer && npm ci --no-audit --no-fund --loglevel=error)
# The CLI as a user runs it: published ReadyToRun, so a cold start JITs little.
dotnet publish src/Bitswap.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o bench/out/cli --nologo -v quiet
exec node bench/compare.mjs --cli bench/out/cli/bitswap "$@"
