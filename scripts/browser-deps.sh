#!/usr/bin/env bash
# Installs what the dashboard's browser tests need and the machine lacks: Debian's chromium
# (Playwright drives it; it never downloads a browser of its own), Node.js and npm if absent,
# and playwright-core from package-lock.json. Safe to run again.
set -euo pipefail
. "$(dirname "$0")/apt.sh"
cd "$(dirname "$0")/.."

packages=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
apt_install browser-deps "${packages[@]}"

dir=aggregator/dashboard/browsertest
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
	echo "browser-deps: npm ci (playwright-core)"
	# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, but be explicit.
	(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
