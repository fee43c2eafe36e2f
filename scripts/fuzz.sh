#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 20s), one after another: the
# seed corpora already run as plain tests in 'make test'; this explores beyond them.
# FUZZPKGS limits it to some packages (default: every package with a Fuzz function).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
pkgs=${FUZZPKGS:-$(grep -l '^func Fuzz' $(git ls-files '*_test.go') | xargs -n1 dirname | sort -u | sed 's|^|./|')}
for p in $pkgs; do
	for f in $($GO test -list '^Fuzz' "$p" | grep '^Fuzz' || true); do
		echo "== $p $f ($FUZZTIME)"
		nice -n 10 $GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -parallel 1 "$p"
	done
done
