#!/usr/bin/env bash
# Runs a race headless N times per variant and reports how often the
# expected outcome happened and how long the runs took.
#
# Usage: scripts/race-repeat.sh [race (foreachp-stopwait)] [runs (20)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
race=${1:-foreachp-stopwait}
runs=${2:-20}
cargo build --release --quiet -p grt-tui --manifest-path "$root/Cargo.toml"
tui=$root/target/release/grt-tui
target=$(awk '$1 == "target" { print $2; exit }' "$root/scripts/races/$race.race")
cargo build --release --quiet -p grt --example "$target" --manifest-path "$root/Cargo.toml"
out=$(mktemp -d)
for variant in buggy fixed; do
  ok=0; times=()
  for i in $(seq "$runs"); do
    start=$(date +%s%N)
    if GRT_RACE_TRACE=1 timeout 60 "$tui" race "$race" --variant "$variant" --headless > "$out/$variant.$i.log" 2>&1; then
      ok=$((ok + 1))
    else
      echo "run $i ($variant) did not show the expected outcome: $out/$variant.$i.log" >&2
    fi
    times+=($(( ($(date +%s%N) - start) / 1000000 )))
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  max=$(echo "$sorted" | tail -1)
  echo "$race $variant: expected outcome $ok/$runs, time per run median ${median} ms, max ${max} ms"
done
echo "logs: $out"
