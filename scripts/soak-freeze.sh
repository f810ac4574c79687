#!/usr/bin/env bash
# Freeze/thaw soak: freezes and thaws a grt program (the demo, whose own
# checks panic on any wrong result or a stalled pipeline) over and over,
# every thread or one random thread, for random lengths, and reports the
# cycles run and the failures (see inspector/examples/freezesoak.rs).
#
# Usage: scripts/soak-freeze.sh [cycles (100)] [min_ms (0)] [max_ms (2000)] [freezesoak options...]
#   options: --target NAME (a runtime example; demo), --only all|one
#   (freeze only every thread, or only one), --judge N (check heartbeats
#   after every N cycles; 1), --sigstop (SIGSTOP/SIGCONT instead of ptrace,
#   the control). FREEZESOAK_SEED=<seed> replays a run.
# Debug builds by default (the runtime's debug checks on); PROFILE=release
# for release builds. Exits 1 if any cycle failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cycles=${1:-100}
min_ms=${2:-0}
max_ms=${3:-2000}
shift $(($# < 3 ? $# : 3))
profile=${PROFILE:-debug}
flag=()
[ "$profile" = release ] && flag=(--release)
target=demo
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" = --target ] && target=${args[i + 1]}
done
cargo build --quiet "${flag[@]}" -p grt --example "$target" --manifest-path "$root/Cargo.toml"
cargo build --quiet "${flag[@]}" -p grt-inspector --example freezesoak --manifest-path "$root/Cargo.toml"
exec "$root/target/$profile/examples/freezesoak" "$@" "$cycles" "$min_ms" "$max_ms"
