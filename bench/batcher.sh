#!/usr/bin/env bash
# The vision batcher alone (issue 20): a stand-in model whose batch latency follows the measured
# H100 curve for u2netp (5.5 ms at batch 1, ~1.6 ms an image at 32-128; ../shared/gpu/README.md),
# driven by 1, 16, 64 and 256 closed-loop callers, then a light open load. Targets: at 64
# callers >= 90% of what the curve allows; at light load, queueing delay <= max_wait + one batch.
# MAX_WAIT_MS (default 2, the manifest's default) and the batch sizes 16 (the default) and 64.
. "$(dirname "$0")/lib.sh"
cargo build -q --release -p atelier --example batcher_standin
for batch in 16 64; do
  target/release/examples/batcher_standin "$batch" "${MAX_WAIT_MS:-2}"
done
