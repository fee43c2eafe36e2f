#!/usr/bin/env bash
# The demo: a synthetic intersection clip flows through the edge into the aggregator.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/demo}
SEED=${SEED:-7}
HTTP=${HTTP:-127.0.0.1:8080}
MQTT=${MQTT:-127.0.0.1:18830}

rm -rf "$OUT" && mkdir -p "$OUT"
echo "== 1. synthesise a clip of a signalised intersection (seed $SEED)"
bin/crosswatch-edge synth --seed "$SEED" --out "$OUT"

echo "== 2. give the demo device its token (only its hash is kept) and start the aggregator"
echo "      (embedded MQTT broker on $MQTT: devices prove who they are; SQLite; API on $HTTP)"
(umask 077 && bin/crosswatch-aggregator device add demo-edge --tokens "$OUT/devices.passwd" >"$OUT/demo-edge.token" 2>/dev/null)
# Sign-in for the dashboard and a token for 'sites': generated, shown only in files only you can read.
(umask 077
	bin/crosswatch-aggregator user add admin --role admin --config configs/aggregator.yaml --db "$OUT/aggregator.db" >"$OUT/admin-password" 2>/dev/null
	bin/crosswatch-aggregator token add demo --role viewer --config configs/aggregator.yaml --db "$OUT/aggregator.db" >"$OUT/viewer-token" 2>/dev/null)

bin/crosswatch-aggregator serve --config configs/aggregator.yaml --db "$OUT/aggregator.db" \
	--device-tokens "$OUT/devices.passwd" \
	--mqtt-listen "$MQTT" --http "$HTTP" >"$OUT/aggregator.out" 2>"$OUT/aggregator.log" &
agg=$!
stop() {
	if kill -0 "$agg" 2>/dev/null; then
		kill -INT "$agg"
		wait "$agg" || true
		tail -n 1 "$OUT/aggregator.out"
	fi
}
trap stop EXIT
for _ in $(seq 100); do
	grep -q "ready" "$OUT/aggregator.out" 2>/dev/null && break
	kill -0 "$agg" 2>/dev/null || { cat "$OUT/aggregator.log" >&2; exit 1; }
	sleep 0.1
done
grep -q "ready" "$OUT/aggregator.out" || { echo "aggregator did not start:" >&2; cat "$OUT/aggregator.log" >&2; exit 1; }

echo "== 3. replay the clip through the edge (motion gate, detector, tracker, rules, outbox, MQTT)"
bin/crosswatch-edge replay --scene "$OUT/scene.yaml" --clip "$OUT/clip.avi" --broker "tcp://$MQTT" \
	--device demo-edge --token-file "$OUT/demo-edge.token" --outbox "$OUT/outbox.db"

echo "== 4. sites ranked by risk, insufficient data last (ground truth: $(grep -c '"type"' "$OUT/truth.json") violations in $OUT/truth.json)"
bin/crosswatch-aggregator sites --api "http://$HTTP" --token-file "$OUT/viewer-token"
echo
echo "Dashboard: http://$HTTP/ (sign in as admin, password in $OUT/admin-password)"
echo "API:    curl -H \"Authorization: Bearer \$(cat $OUT/viewer-token)\" http://$HTTP/api/v1/sites"
if [ -n "${KEEP:-}" ]; then
	echo "The aggregator keeps running (KEEP=1); Ctrl-C stops it."
	wait "$agg" || true
fi
