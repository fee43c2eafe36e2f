#!/bin/bash
# racecheck.sh DIR: print the data races reported under DIR (GORACE log_path files) and fail if
# any is ours. One race is known and not ours, and is listed but not counted: paho.mqtt.golang's
# resume() sets the DUP flag of a stored PUBLISH while its writer goroutine may be sending it,
# after a reconnect (eclipse-paho/paho.mqtt.golang#703, open for v1.5.x).
set -euo pipefail
dir=${1:?usage: racecheck.sh DIR}
shopt -s nullglob
files=("$dir"/report.*)
[ ${#files[@]} -eq 0 ] && exit 0
awk '
	function flush() {
		if (block == "") return
		if (block ~ /paho%2emqtt%2egolang\.\(\*client\)\.resume\(\)/ && block ~ /packets\.\(\*FixedHeader\)\.pack\(\)/ && block !~ /crosswatch\/crosswatch/) {
			known++
		} else {
			ours++
			printf "%s", block
		}
		block = ""
	}
	/^==================$/ { if (inblock) { flush(); inblock = 0 } else { inblock = 1 }; next }
	inblock { block = block $0 "\n" }
	END {
		flush()
		printf "data races: %d in crosswatch or unknown, %d known in paho (#703)\n", ours, known
		exit ours > 0
	}' "${files[@]}"
