#!/usr/bin/env bash
# Helia → Helia, Helia → C#, C# → Helia and C# → C# through the CLIs, on one file in one run (see bench/compare.mjs).
# Usage: bench/compare.sh [--size-mib 64] [--chunk 262144] [--chunk 1048576] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
(cd tests/Interop/peer && npm ci --no-audit --no-fund --loglevel=error)
# The CLI as a user runs it, built for fast cold starts: self-contained, trimmed, one composite ReadyToRun image.
rm -rf bench/out/cli && bash bench/publish-cli.sh bench/out/cli
exec node bench/compare.mjs --cli bench/out/cli/bitswap "$@"
