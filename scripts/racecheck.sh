#!/bin/bash
# racecheck.sh DIR: print the data races reported under DIR (GORACE log_path files) and fail if
# any touches crosswatch's code. A race with no crosswatch frame at all lies inside a dependency:
# it is printed but not counted. The one seen so far is paho.mqtt.golang's resume(), which sets
# the DUP flag of a stored PUBLISH while its writer may be sending it, after a reconnect
# (eclipse-paho/paho.mqtt.golang#703, open for v1.5.x).
set -euo pipefail
dir=${1:?usage: racecheck.sh DIR}
shopt -s nullglob
files=("$dir"/report.*)
if [ ${#files[@]} -eq 0 ]; then
	echo "data races: none"
	exit 0
fi
awk '
	function flush() {
		if (block == "") return
		if (block ~ /github\.com\/crosswatch\/crosswatch/) ours++; else theirs++
		printf "%s", block
		block = ""
	}
	/^==================$/ { if (inblock) { flush(); inblock = 0 } else { inblock = 1 }; next }
	inblock { block = block $0 "\n" }
	END {
		flush()
		printf "data races: %d in crosswatch code, %d inside dependencies only (not counted)\n", ours, theirs
		exit ours > 0
	}' "${files[@]}"
