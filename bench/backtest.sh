#!/usr/bin/env bash
# Benchmark: backtest two models over a generated data set.
#
#   bench/backtest.sh [LEADS]          (default 50000)
#
# Builds the release binary, generates the data set with the product's own
# generator (seed 1), derives outcomes from it (every third lead that was an
# MQL as of the end is won a week after its mql_at, every fifth is rejected
# the day after; a deterministic stand-in for a CRM's outcomes, since the
# generator writes events only), writes a second model (the demo model with
# a threshold of 40 instead of 60), and times
#   qualify backtest --events F --outcomes O --model M --against M2 \
#       --from 2026-08-03 --to 2026-12-01 --format json
# printing wall seconds and peak memory (/usr/bin/time). Run by hand; it is
# not part of the test suite.
set -euo pipefail

LEADS="${1:-50000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUALIFY="$ROOT/target/release/qualify"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qualify-backtest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "== build"
(cd "$ROOT" && cargo build --release -p qualify --quiet)
echo "== generate $LEADS leads (seed 1)"
"$QUALIFY" demo --generate "$WORK/events.ndjson" --leads "$LEADS" --seed 1 --write-model "$WORK/model.toml"
sed 's/^engagement_threshold = 60/engagement_threshold = 40/' "$WORK/model.toml" > "$WORK/lower.toml"
grep -q '^engagement_threshold = 40' "$WORK/lower.toml" || { echo "could not derive the second model" >&2; exit 1; }

echo "== derive outcomes"
"$QUALIFY" score --events "$WORK/events.ndjson" --model "$WORK/model.toml" --as-of 2026-12-01T00:00:00Z --format csv 2>/dev/null |
    python3 -c '
import csv, sys
from datetime import datetime, timedelta
FORMAT = "%Y-%m-%dT%H:%M:%SZ"
rows = [row for row in csv.DictReader(sys.stdin) if row["mql_at"] and not row["lead_id"].startswith("anon:")]
print("lead_id,stage,at,reason,revenue")
for index, row in enumerate(rows):
    lead, at = row["lead_id"], datetime.strptime(row["mql_at"], FORMAT)
    if index % 3 == 0:
        print(lead + ",won," + (at + timedelta(days=7)).strftime(FORMAT) + ",,1200")
    elif index % 5 == 0:
        print(lead + ",rejected," + (at + timedelta(days=1)).strftime(FORMAT) + ",no budget,")
' > "$WORK/outcomes.csv"
echo "   $(($(wc -l < "$WORK/outcomes.csv") - 1)) outcomes"

echo "== backtest two models"
/usr/bin/time -f "%e %M" -o "$WORK/time" "$QUALIFY" backtest --events "$WORK/events.ndjson" --outcomes "$WORK/outcomes.csv" \
    --model "$WORK/model.toml" --against "$WORK/lower.toml" --from 2026-08-03 --to 2026-12-01 --format json > "$WORK/result.json"
read -r seconds kilobytes < "$WORK/time"
python3 - "$WORK/result.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
for side in ("model", "against"):
    r = result[side]
    print(f"   {side:8} mqls {r['mqls']:6}  precision {r['precision']}  recall {r['recall']}  median lead time {r['median_lead_time_days']} days")
print(f"   only under the model: {len(result['only_model'])}, only under the other: {len(result['only_against'])}")
PY
echo "== summary: $LEADS leads, two models: ${seconds} s wall, peak RSS $((kilobytes / 1024)) MB"
