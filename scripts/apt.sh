# Sourced by the install scripts: apt_install NAME PACKAGE... installs the Debian packages that
# are not installed yet (with sudo when not root), saying what it installs under NAME.
apt_install() {
	local name=$1 p sudo=""
	shift
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "$name: need root or sudo to install: ${missing[*]}" >&2; return 1; }
		sudo=sudo
	fi
	echo "$name: installing ${missing[*]} (apt)"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
