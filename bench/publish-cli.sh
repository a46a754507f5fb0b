#!/usr/bin/env bash
# Publishes the bitswap CLI for fast cold starts: self-contained, trimmed (the framework and LanguageExt only), and one
# composite ReadyToRun image with the framework (see src/Bitswap.Cli/Bitswap.Cli.csproj). About 90 MB; 1-2 minutes here.
# Usage: bench/publish-cli.sh OUTPUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/publish-cli.sh OUTPUT_DIR}
dotnet publish src/Bitswap.Cli -c Release -r linux-x64 --self-contained true -p:PublishTrimmed=true \
  -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o "$out" --nologo -v quiet
