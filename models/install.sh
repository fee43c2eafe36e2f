#!/usr/bin/env bash
# Installs the model files listed in models/MANIFEST.tsv into models/files/, verifying each
# sha256. A file comes from $CROSSWATCH_SHARED_MODELS (default ../shared/models) when present,
# else from its upstream origin. Weights are never committed.
set -euo pipefail
cd "$(dirname "$0")"
shared=${CROSSWATCH_SHARED_MODELS:-../../shared/models}
mkdir -p files
fail=0
while IFS=$'\t' read -r file sha origin _; do
	[[ -z "$file" || "$file" == \#* ]] && continue
	dst="files/$file"
	if [ -f "$dst" ] && echo "$sha  $dst" | sha256sum -c --quiet 2>/dev/null; then
		continue
	fi
	if [ -f "$shared/$file" ]; then
		cp "$shared/$file" "$dst.part"
	else
		# origin is repo@commit:path
		repo=${origin%%@*}; rest=${origin#*@}; commit=${rest%%:*}; path=${rest#*:}; path=${path%% *}
		echo "models: $file not in $shared; fetching from $repo@$commit" >&2
		if ! curl -fsSL --max-time 120 -o "$dst.part" "https://raw.githubusercontent.com/$repo/$commit/$path"; then
			echo "models: $file: download failed" >&2; rm -f "$dst.part"; fail=1; continue
		fi
	fi
	if ! echo "$sha  $dst.part" | sha256sum -c --quiet 2>/dev/null; then
		echo "models: $file: sha256 mismatch, not installed" >&2; rm -f "$dst.part"; fail=1; continue
	fi
	mv "$dst.part" "$dst"
	echo "models: installed $file"
done < MANIFEST.tsv
# The edge verifies every file against the manifest before OpenCV reads it.
cp MANIFEST.tsv files/MANIFEST.tsv
exit $fail
