#!/usr/bin/env bash
# make bench: every figure in docs/BENCHMARKS.md. BENCH_SMOKE=1 runs a short form (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/bench${BENCH_SMOKE:+-smoke}}
SHARED=${SHARED:-../shared/videos}
smoke=${BENCH_SMOKE:-}
dur=60s; benchtime=1s
if [ -n "$smoke" ]; then dur=5s; benchtime=1x; fi
mkdir -p "$OUT"

echo "# crosswatch bench — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); OpenCV $(pkg-config --modversion opencv4)"
echo
echo "## Go benchmarks (per frame and per event)"
go test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./edge/track/ ./edge/rules/ ./edge/vision/ ./edge/wire/ | grep -E '^Benchmark'
ingestN=200000x; [ -n "$smoke" ] && ingestN=2000x
go test -run '^$' -bench IngestSQLite -benchmem -benchtime "$ingestN" ./aggregator/ingest/ | grep -E '^Benchmark'
echo
echo "## decode vs pipeline, same clip, same run (crosswatch-edge bench --json)"
clips=()
for spec in "640x480 mjpg 15" "1280x720 h264 30" "1920x1080 h264 30"; do
	set -- $spec
	d="$OUT/synth-$1-$2"
	[ -f "$d/truth.json" ] && [ -z "$smoke" ] || bin/crosswatch-edge synth --seed 1 --out "$d" --size "$1" --codec "$2" --fps "$3" --duration "$dur" >/dev/null
	clips+=("$(ls "$d"/clip.* | head -1)|$d/scene.yaml")
done
if [ -d "$SHARED" ] && [ -z "$smoke" ]; then
	for f in platform_metroeyes_tokyo_metro_platform_fisheye general_metroeyes_subway_corridor general_kartikmalhotra_highway_overpass rlv_gutomadon_redlight ped_roxaaaaa_crosswalk; do
		[ -f "$SHARED/$f.mp4" ] && clips+=("$SHARED/$f.mp4|")
	done
elif [ -z "$smoke" ]; then
	echo "(no $SHARED: real clips skipped)"
fi
for c in "${clips[@]}"; do
	clip=${c%%|*}; scene=${c#*|}
	bin/crosswatch-edge bench --clip "$clip" ${scene:+--scene "$scene"} --json
done

echo
echo "## live 1080p30 cameras in real time (crosswatch-edge bench --streams N)"
# A real clip (the 2K night/day red-light compilation) re-encoded as a camera would send it:
# 1920x1080, 30 fps, H.264 at 6 Mbit/s with sensor noise. Without ../shared, the synthetic 1080p clip.
live="$OUT/live-1080p30.mp4"
if [ ! -f "$live" ]; then
	if [ -f "$SHARED/rlv_gutomadon_redlight.mp4" ] && command -v ffmpeg >/dev/null; then
		ffmpeg -loglevel error -y -i "$SHARED/rlv_gutomadon_redlight.mp4" -vf "scale=1920:1080,fps=30,noise=alls=6:allf=t" \
			-c:v libx264 -preset fast -b:v 6M -maxrate 6M -bufsize 12M -pix_fmt yuv420p "$live"
	else
		live=$(ls "$OUT"/synth-1920x1080-h264/clip.* | head -1)
	fi
fi
livedur=30s; streams="1 4 6 8"
if [ -n "$smoke" ]; then livedur=3s; streams="2"; fi
for n in $streams; do
	bin/crosswatch-edge bench --clip "$live" --streams "$n" --duration "$livedur" --json
done
# The same with the DNN detector real cameras use (the night red-light scene; the streams share
# one network per core), and the single-stream ratio at 10 analysed fps (docs/BENCHMARKS.md).
dnnscene=configs/scenes/real/rlv_gutomadon_redlight.yaml
if [ -f models/files/MANIFEST.tsv ] && [ -f "$SHARED/rlv_gutomadon_redlight.mp4" ]; then
	bin/crosswatch-edge bench --clip "$live" --scene "$dnnscene" --analysis-fps 10 --models models/files --json
	for n in $streams; do
		bin/crosswatch-edge bench --clip "$live" --scene "$dnnscene" --streams "$n" --duration "$livedur" --models models/files --json
	done
else
	echo "(no models or no $SHARED: the DNN streams skipped; make models)"
fi
echo
echo "## memory: peak RSS of one process with 1 and with 6 live 1080p30 streams"
memdur=20s; [ -n "$smoke" ] && memdur=3s
for n in 1 6; do
	[ -n "$smoke" ] && [ "$n" = 6 ] && continue
	kb=$(/usr/bin/time -f '%M' bin/crosswatch-edge bench --clip "$live" --streams "$n" --duration "$memdur" 2>&1 >/dev/null | tail -1)
	echo "streams=$n peak_rss_mb=$((kb / 1024)) per_stream_mb=$((kb / 1024 / n))"
done
# The floor: the same capture at the same pace with nothing after the decoder.
kb=$(/usr/bin/time -f '%M' bin/crosswatch-edge bench --clip "$live" --streams 1 --duration "$memdur" --decode-only 2>&1 >/dev/null | tail -1)
echo "decode_only streams=1 peak_rss_mb=$((kb / 1024))"

echo
echo "## delivery latency and ingest throughput (real Mosquitto on loopback, same run)"
CROSSWATCH_BENCH=1 BENCH_SMOKE="$smoke" go test -count=1 -v -run 'TestBench' ./e2e/ | grep '^BENCH'

echo
echo "## 1M-event backlog drain (broker down while the edge buffers, then back)"
drainN=1000000; [ -n "$smoke" ] && drainN=20000
CROSSWATCH_DRAIN_N=$drainN go test -count=1 -timeout 40m -run TestFaultBrokerDownBuffer100k -v ./e2e/ | grep -E 'drained in|reconcile'

echo
echo "## no gocv.Mat leaks over a 10-minute replay of each synthetic scene (matprofile build)"
leak=10m; [ -n "$smoke" ] && leak=10s
CROSSWATCH_LEAK_DURATION=$leak go test -count=1 -tags matprofile -run TestNoMatLeaks -v ./edge/lab/ | grep -E 'Mats open|^(ok|FAIL)'
