#!/usr/bin/env bash
# Mutation testing of the logic packages with Gremlins (github.com/go-gremlins/gremlins), its
# default mutators: each mutant (a comparison's boundary moved, < to <=; a condition negated,
# == to !=; an arithmetic operator swapped, + to -; ++ to --; a sign inverted) is applied alone
# to a copy of the module and the package's own tests run; a mutant they do not notice "lived";
# one on a line no test runs is "not covered". Prints the kill rate per package and every surviving mutant, writes
# out/mutate/PKG.json, and exits non-zero if a package kills less than MUTATE_MIN percent
# (default 90) of the mutants its tests cover.
#
# MUTATE_SHORT=1 (in 'make test'): the two fastest packages, aggregator/catalog and edge/relay
# (about a minute and a half). MUTATE_PACKAGES="edge/rules edge/track" runs only those. One package
# at a time, niced: the runs are CPU-bound.
set -euo pipefail
cd "$(dirname "$0")/.."
min=${MUTATE_MIN:-90}
version=v0.6.0

gremlins=$(command -v gremlins || true)
if [ -z "$gremlins" ]; then
	gremlins="$(go env GOPATH)/bin/gremlins"
	if [ ! -x "$gremlins" ]; then
		echo "mutate: installing gremlins $version (go install)" >&2
		go install "github.com/go-gremlins/gremlins/cmd/gremlins@$version"
	fi
fi
command -v jq >/dev/null || { echo "mutate: jq is needed (scripts/deps.sh installs it)" >&2; exit 1; }

# package and the files of it to leave alone (regexps), if any: in edge/vision only the
# anonymiser is logic worth mutating here; its detectors, drawing and the analyser's plumbing
# have their own tests. edge/pipeline's tests replay observations: fast, no OpenCV.
packages=(
	"aggregator/catalog"
	"edge/relay"
	"aggregator/ingest"
	"edge/track"
	"aggregator/sqlstore"
	"edge/vision|bgmodel.go|dnn.go|draw.go|model.go|picodet.go|vision.go|analyser.go|ring.go|viewcheck.go"
	"edge/pipeline"
	"edge/outbox"
	"edge/rules"
)
# Not --test-cpu: with it Gremlins v0.6.0 reports every mutant killed (checked on a two-line
# package whose survivors are certain).
flags=(--workers 1 --timeout-coefficient 10)
if [ -n "${MUTATE_SHORT:-}" ]; then
	packages=("aggregator/catalog" "edge/relay")
fi

if [ -n "${MUTATE_PACKAGES:-}" ]; then
	want=" $MUTATE_PACKAGES "
	sel=()
	for entry in "${packages[@]}"; do
		[[ "$want" == *" ${entry%%|*} "* ]] && sel+=("$entry")
	done
	packages=("${sel[@]}")
fi

# Gremlins runs the tests in a copy of the module under $TMPDIR, without the untracked
# models/files: tell the tests where ../shared and the models are.
if [ -d ../shared ]; then
	CROSSWATCH_SHARED=$(cd ../shared && pwd)
	export CROSSWATCH_SHARED
fi
if [ -d models/files ]; then
	CROSSWATCH_MODELS=$(cd models/files && pwd -P)
	export CROSSWATCH_MODELS
fi

mkdir -p out/mutate
fail=0
summary=()
for entry in "${packages[@]}"; do
	IFS='|' read -r pkg excl <<<"$entry"
	name=${pkg//\//-}
	ex=()
	if [ -n "$excl" ]; then
		IFS='|' read -ra files <<<"${entry#*|}"
		for f in "${files[@]}"; do ex+=(-E "(^|/)${f//./\\.}\$"); done
	fi
	echo "mutate: $pkg ..." >&2
	nice -n 10 "$gremlins" unleash "${flags[@]}" "${ex[@]}" -o "out/mutate/$name.json" "./$pkg" >"out/mutate/$name.log" 2>&1 || true
	if [ ! -s "out/mutate/$name.json" ]; then
		echo "mutate: $pkg: gremlins wrote no report; see out/mutate/$name.log" >&2
		tail -20 "out/mutate/$name.log" >&2
		fail=1
		continue
	fi
	read -r killed lived uncovered timedout < <(jq -r '"\(.mutants_killed) \(.mutants_lived) \(.mutants_not_covered) \([.files[].mutations[] | select(.status=="TIMED OUT")] | length)"' "out/mutate/$name.json")
	tested=$((killed + timedout + lived))
	rate=100
	[ "$tested" -gt 0 ] && rate=$((100 * (killed + timedout) / tested))
	summary+=("$(printf '%-22s %4d %4d %4d %7d %5d%%' "$pkg" "$killed" "$lived" "$timedout" "$uncovered" "$rate")")
	jq -r --arg p "$pkg" '.files[] | .file_name as $f | .mutations[] | select(.status=="LIVED") | "  lived: \($p)/\($f):\(.line):\(.column) \(.type)"' "out/mutate/$name.json"
	if [ "$rate" -lt "$min" ]; then
		fail=1
	fi
done
echo
printf '%-22s %4s %4s %4s %7s %6s\n' PACKAGE KILL LIVE TIME UNCOVER RATE
printf '%s\n' "${summary[@]}"
echo "(rate = (killed + timed out) / (killed + timed out + lived): a mutant that hangs the tests is noticed; uncovered: no test runs the line, not counted)"
if [ "$fail" -ne 0 ]; then
	echo "mutate: a package kills less than $min % of its covered mutants (or gremlins failed)" >&2
	exit 1
fi
