#!/usr/bin/env bash
# One command for a fresh machine: set everything up, then serve the embedded default manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f .ort/env.sh ] && . .ort/env.sh
exec target/release/atelier serve "$@"
