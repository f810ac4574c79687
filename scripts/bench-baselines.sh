#!/usr/bin/env bash
# Runs grt's baselines benchmark side by side with the Go, may and tokio
# baselines (shared/baselines/run.sh: interleaved rounds, medians, ratios to
# Go) and adds the median per-round ratios of grt to each Rust peer.
#
# Usage: scripts/bench-baselines.sh [runs] [workload...]
# Env:   GRT_BASELINES=<dir> (default ../shared/baselines), IMPLS, TIMEOUT
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${GRT_BASELINES:-$root/../shared/baselines}
if [[ ! -x $shared/run.sh ]]; then
  echo "bench-baselines: no baselines at $shared (set GRT_BASELINES to the shared/baselines directory)" >&2
  exit 2
fi
work=$root/target/baselines
mkdir -p "$work"
# run.sh writes next to itself; the shared copy is read-only.
cp -r "$shared"/. "$work"/
chmod -R u+w "$work"
cargo build --release --quiet -p grt --example baselines --manifest-path "$root/Cargo.toml"
export GRT_BIN=$root/target/release/examples/baselines
export IMPLS=${IMPLS:-"go may tokio grt"}
log=$(mktemp)
"$work/run.sh" "$@" | tee "$log"
raw=$(sed -n 's/^raw lines and stderr: //p' "$log")
rm -f "$log"
[[ -n $raw && -f $work/$raw/raw.txt ]] || exit 0
echo
echo "grt / peer (median of per-round ratios):"
printf "%-10s %-16s %9s %9s\n" workload metric grt/may grt/tokio
awk '
/^#/ { next }
{
  round = $1; impl = $2; w = ""
  for (i = 3; i <= NF; i++) {
    k = substr($i, 1, index($i, "=") - 1); v = substr($i, index($i, "=") + 1)
    if (k == "workload") w = v
    else if (k ~ /_per_op$/) { at[w, k, impl, round] = v; keys[w SUBSEP k] = 1; if (round > rounds) rounds = round }
  }
}
function median(list,   a, n, i, j, t) {
  n = split(list, a, " "); for (i = 1; i <= n; i++) a[i] += 0
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  for (wk in keys) {
    split(wk, p, SUBSEP); line = sprintf("%-10s %-16s", p[1], p[2])
    for (q = 1; q <= 2; q++) {
      peer = q == 1 ? "may" : "tokio"; r = ""
      for (k = 1; k <= rounds; k++)
        if ((p[1], p[2], "grt", k) in at && (p[1], p[2], peer, k) in at && at[p[1], p[2], peer, k] > 0)
          r = r " " at[p[1], p[2], "grt", k] / at[p[1], p[2], peer, k]
      line = line sprintf(" %9s", r == "" ? "-" : sprintf("%.2f", median(r)))
    }
    print line
  }
}' "$work/$raw/raw.txt" | sort
