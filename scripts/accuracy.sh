#!/usr/bin/env bash
# Runs eval on every labelled real clip (configs/scenes/real/<clip>.yaml with its <clip>.truth.json) with
# the product's defaults, and prints each clip's result and the totals per event type: the figures
# in docs/ACCURACY.md. Usage: scripts/accuracy.sh [SCENE-SUFFIX] (e.g. .classical for <clip>.classical.yaml).
# MODEL=picodet_s_320_coco_cv46 scripts/accuracy.sh runs the same scenes with another detector model,
# STRIDE=2 with the detector on every second analysed frame (detector.stride).
# Needs bin/crosswatch-edge (make build) and the models (make models); clips come from ../shared/videos.
set -euo pipefail
cd "$(dirname "$0")/.."
suffix=${1:-}
videos=${VIDEOS:-../shared/videos}
export CROSSWATCH_MODELS=${CROSSWATCH_MODELS:-$PWD/models/files}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for truth in configs/scenes/real/*.truth.json; do
	base=$(basename "$truth" .truth.json)
	scene=configs/scenes/real/$base$suffix.yaml
	[ -f "$scene" ] || continue
	ref=()
	if [ -n "${MODEL:-}${STRIDE:-}" ]; then
		# the copy keeps the scene's view reference (beside the scene, named after it)
		[ -f "${scene%.yaml}.view.pgm" ] && ref=(--view-reference "${scene%.yaml}.view.pgm")
		cp "$scene" "$out/$base.scene.yaml"
		printf 'detector:\n' >>"$out/$base.scene.yaml"
		[ -n "${MODEL:-}" ] && printf '    model: %s\n' "$MODEL" >>"$out/$base.scene.yaml"
		[ -n "${STRIDE:-}" ] && printf '    stride: %s\n' "$STRIDE" >>"$out/$base.scene.yaml"
		scene=$out/$base.scene.yaml
	fi
	clip=$(ls "$videos/$base".* 2>/dev/null | head -n1 || true)
	if [ -z "$clip" ]; then echo "$base: no clip in $videos" >&2; continue; fi
	args=(eval --scene "$scene" --clip "$clip" --truth "$truth" --json "${ref[@]}")
	[ -f "configs/scenes/real/$base.phases.jsonl" ] && args+=(--phases "configs/scenes/real/$base.phases.jsonl")
	if ! bin/crosswatch-edge "${args[@]}" >"$out/$base.json" 2>"$out/$base.err"; then
		echo "$base: eval failed: $(tail -n1 "$out/$base.err")" >&2; continue
	fi
	jq -r --arg c "$base" '.types | to_entries[] | "\($c)\t\(.key)\t\(.value.tp)\t\(.value.fp)\t\(.value.fn)"' "$out/$base.json"
	jq -r --arg c "$base" '(.counts // {}) | to_entries[] | "\($c)\tcount:\(.key)\t\(.value.counted)\t\(.value.truth)\t"' "$out/$base.json"
done | tee "$out/all.tsv"
echo
echo "totals (tp / fp / fn, precision, recall):"
awk -F'\t' '$2 !~ /^count:/ {tp[$2]+=$3; fp[$2]+=$4; fn[$2]+=$5}
END {for (t in tp) {p = (tp[t]+fp[t]) ? sprintf("%.2f", tp[t]/(tp[t]+fp[t])) : "null"; r = (tp[t]+fn[t]) ? sprintf("%.2f", tp[t]/(tp[t]+fn[t])) : "null"; printf "%-26s %d / %d / %d  P %s  R %s\n", t, tp[t], fp[t], fn[t], p, r}}' "$out/all.tsv" | sort
