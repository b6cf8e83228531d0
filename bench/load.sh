#!/usr/bin/env bash
# Load benchmark of `qualify serve`: the generated data set posted through
# /v1/batch, then the stored log scored against the file.
#
#   bench/load.sh [LEADS]          (default 20000)
#
# 1. Builds the release binary and the load client
#    (crates/server/examples/load.rs).
# 2. Generates LEADS leads with the product's generator (seed 1) and writes
#    the demo model.
# 3. Makes a temporary database with that model active and a write key, and
#    starts `qualify serve` on 127.0.0.1 (a free port, read from its stderr).
# 4. Posts every message of the file through /v1/batch: the file's batch
#    envelopes flattened into messages, LOAD_CONNECTIONS (4) keep-alive
#    connections, LOAD_BATCH (500) messages per request (fewer when 500 would
#    pass Segment's 500 KB body limit), LOAD_GZIP=1 to gzip the bodies, 429s
#    retried after their Retry-After, all within LOAD_TIME_LIMIT seconds
#    (600). Reports events/s and p50/p99 request latency. The client drops
#    `sentAt` from messages that only have `originalTimestamp`, so that the
#    server's clock-skew correction does not move them (see load.rs).
# 5. Stops the server with SIGTERM (it must exit 0), then checks that
#      qualify score --db DB --as-of T
#    prints exactly what
#      qualify score --events FILE --model MODEL --as-of T
#    prints (T = 2026-12-01T00:00:00Z, the end of the generated data).
#
# LOAD_KEEP=1 keeps the temporary folder (data set, database, logs).
# LOAD_PERF=1 also records the server with `perf record --call-graph dwarf`
# (250 Hz) during step 4 and prints where its CPU time went: by thread, the
# inclusive share of the main stages of ingestion, and the top symbols
# (needs linux-perf; the release profile keeps line tables for it).
#
# Loopback only; every step is bounded in time. Run by hand; not part of the
# test suite. Exits non-zero when a step fails or the scores disagree.
set -euo pipefail

LEADS="${1:-20000}"
SEED=1
AS_OF="2026-12-01T00:00:00Z"
CONNECTIONS="${LOAD_CONNECTIONS:-4}"
BATCH="${LOAD_BATCH:-500}"
TIME_LIMIT="${LOAD_TIME_LIMIT:-600}"
GZIP="${LOAD_GZIP:-0}"
PERF="${LOAD_PERF:-0}"

if ! [[ "$LEADS" =~ ^[0-9]+$ ]] || [ "$LEADS" -lt 1 ]; then
    echo "usage: bench/load.sh [LEADS]   (LEADS a positive integer, default 20000)" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUALIFY="$ROOT/target/release/qualify"
CLIENT="$ROOT/target/release/examples/load"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qualify-load.XXXXXX")"
SERVER_PID=""
PERF_PID=""
cleanup() {
    [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
    if [ "${LOAD_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "== build (release)"
(cd "$ROOT" && cargo build --release -p qualify && cargo build --release -p qualify-server --example load)

echo "== generate $LEADS leads (seed $SEED)"
EVENTS="$WORK/events.ndjson"
MODEL="$WORK/model.toml"
"$QUALIFY" demo --generate "$EVENTS" --write-model "$MODEL" --leads "$LEADS" --seed "$SEED" 2>&1 | tee "$WORK/generate.out"

echo "== database, model, write key"
DB="$WORK/load.db"
"$QUALIFY" model activate --db "$DB" "$MODEL"
KEY="$("$QUALIFY" keys create --db "$DB" --role write --name load 2>/dev/null | tail -n 1)"
READ_KEY="$("$QUALIFY" keys create --db "$DB" --role read --name load-metrics 2>/dev/null | tail -n 1)"

echo "== serve"
: >"$WORK/serve.log"
"$QUALIFY" serve --db "$DB" --addr 127.0.0.1:0 2>"$WORK/serve.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 300); do
    ADDR="$(sed -n 's/^Qualify listening on http:\/\/\([^ ]*\).*/\1/p' "$WORK/serve.log" | head -n 1)"
    [ -n "$ADDR" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "bench/load.sh: the server died" >&2; exit 1; }
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/serve.log" >&2; echo "bench/load.sh: the server did not start in 30 s" >&2; exit 1; }
echo "qualify serve (pid $SERVER_PID) on http://$ADDR, database $DB"

if [ "$PERF" = 1 ]; then
    perf record -F 250 --call-graph dwarf,16384 -o "$WORK/perf.data" -p "$SERVER_PID" 2>"$WORK/perf.err" &
    PERF_PID=$!
    sleep 0.5
fi

echo "== post (connections $CONNECTIONS, batch $BATCH, gzip $GZIP, limit ${TIME_LIMIT}s)"
CLIENT_ARGS=(--url "http://$ADDR" --key "$KEY" --events "$EVENTS" --connections "$CONNECTIONS" --batch "$BATCH"
    --time-limit "$TIME_LIMIT" --summary "$WORK/load.summary")
[ "$GZIP" = 1 ] && CLIENT_ARGS+=(--gzip)
CPU_BEFORE="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
WRITTEN_BEFORE="$(awk '/^wchar/ {print $2}' "/proc/$SERVER_PID/io")"
status=0
timeout $((TIME_LIMIT + 120)) "$CLIENT" "${CLIENT_ARGS[@]}" || status=$?
CPU_AFTER="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
WRITTEN_AFTER="$(awk '/^wchar/ {print $2}' "/proc/$SERVER_PID/io")"
if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    PERF_PID=""
fi
if [ "$status" -ne 0 ]; then
    tail -n 20 "$WORK/serve.log" >&2
    echo "bench/load.sh: the load client failed (exit $status)" >&2
    exit 1
fi
# shellcheck disable=SC1091
source "$WORK/load.summary"
SERVER_CPU="$(awk -v ticks="$((CPU_AFTER - CPU_BEFORE))" -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
    'BEGIN { printf "%.1f s of CPU (%.0f%% of one core)", ticks / hz, 100 * ticks / hz / s }')"
# Bytes the server handed to write(2) during the post: the write-ahead log,
# checkpoints into the database, and the HTTP answers.
SERVER_WRITES="$(awk -v bytes="$((WRITTEN_AFTER - WRITTEN_BEFORE))" -v n="$messages" \
    'BEGIN { printf "%.0f MB written (%.0f bytes per message)", bytes / 1e6, bytes / n }')"

# The writer's own figures, from /metrics: how many requests each group
# committed together, and how much of the post it spent on groups.
curl -sf -H "Authorization: Bearer $READ_KEY" "http://$ADDR/metrics" >"$WORK/metrics.txt" || true
WRITER="$(awk -v s="$seconds" '
    /^qualify_write_group_requests_sum/ { requests = $2 }
    /^qualify_write_group_requests_count/ { groups = $2 }
    /^qualify_writer_busy_seconds_total/ { busy = $2 }
    END {
        if (groups > 0) printf "%d groups of %.2f requests on average; busy %.1f s (%.0f%% of the post)", groups, requests / groups, busy, 100 * busy / s
        else printf "no figures (metrics not read)"
    }' "$WORK/metrics.txt")"

echo "== stop (SIGTERM)"
kill -TERM "$SERVER_PID"
status=0
timeout 60 tail --pid="$SERVER_PID" -f /dev/null || { echo "bench/load.sh: the server did not stop in 60 s" >&2; exit 1; }
wait "$SERVER_PID" || status=$?
SERVER_PID=""
if [ "$status" -ne 0 ]; then
    tail -n 20 "$WORK/serve.log" >&2
    echo "bench/load.sh: the server exited $status after SIGTERM" >&2
    exit 1
fi

echo "== scores: stored log vs file, as of $AS_OF"
timeout 600 "$QUALIFY" score --db "$DB" --as-of "$AS_OF" --format csv >"$WORK/store.csv"
timeout 600 "$QUALIFY" score --events "$EVENTS" --model "$MODEL" --as-of "$AS_OF" --format csv >"$WORK/file.csv" \
    2>"$WORK/file-score.err"
LEAD_ROWS="$(($(wc -l <"$WORK/store.csv") - 1))"
if cmp -s "$WORK/store.csv" "$WORK/file.csv"; then
    SAME="identical ($LEAD_ROWS leads)"
else
    diff "$WORK/file.csv" "$WORK/store.csv" | head -n 20 >&2
    python3 "$ROOT/bench/compare_csv.py" "$WORK/file.csv" "$WORK/store.csv" --names file,store >&2 || true
    echo "bench/load.sh: scoring the stored log differs from scoring the file" >&2
    exit 1
fi

if [ "$PERF" = 1 ]; then
    echo "== perf (server CPU during the post): by thread"
    perf report -i "$WORK/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/ *$//' | head -n 8 || true
    echo "-- inclusive, main stages (shares of all server samples; nested stages overlap)"
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null >"$WORK/perf.children" || true
    for stage in 'ingest::parse_request' 'append_event_groups' 'pagerWalFrames' 'walCheckpoint' \
        'unixSync' 'ops::rescore_touched' 'events_for_identities' 'log::prepare_line' 'replace_leads' 'ops::component'; do
        grep -F "$stage" "$WORK/perf.children" | grep -v '(inlined)' | head -n 1 |
            awk -v stage="$stage" '{ printf "  %7s  %s\n", $1, stage }' || true
    done
    echo "-- top symbols (self)"
    perf report -i "$WORK/perf.data" --no-children --sort comm,dso,symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/  */ /g; s/ *$//; s/ - -$//' | cut -c1-140 | head -n 25 || true
fi

echo
echo "== summary: bench/load.sh $LEADS ($(nproc) cores, loopback)"
printf '  %-22s %s\n' \
    "messages" "$messages (in $requests requests of <= $batch; gzip $gzip; $connections connections)" \
    "server answers" "accepted $accepted, duplicates $duplicates, rejected $rejected, 429s $status_429" \
    "time" "${seconds} s" \
    "throughput" "$events_per_second events/s" \
    "request latency" "p50 ${p50_ms} ms, p99 ${p99_ms} ms, max ${max_ms} ms" \
    "batch latency" "p50 ${batch_p50_ms} ms, p99 ${batch_p99_ms} ms (retries included)" \
    "server" "$SERVER_CPU" \
    "server writes" "$SERVER_WRITES" \
    "writer" "$WRITER" \
    "store vs file scores" "$SAME" \
    "shutdown" "SIGTERM, exit 0"
