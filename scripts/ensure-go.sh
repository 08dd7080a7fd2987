#!/usr/bin/env bash
# Prints the path of a Go toolchain new enough for go.mod, installing one if
# needed: Debian's golang-go (too old by itself) downloads the wanted
# toolchain from the Go module proxy (module golang.org/toolchain), which is
# unpacked under ~/.cache/nfmeter/go. Messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^go /{print $2; exit}' go.mod)

ok() { # ok GO: is GO at least $want?
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "$(printf '%s\n%s\n' "$want" "$v" | sort -V | head -n1)" = "$want" ]
}

for cand in "${GO:-}" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$HOME/.cache/nfmeter/go/bin/go"; do
	if [ -n "$cand" ] && [ -x "$cand" ] && GOTOOLCHAIN=local ok "$cand"; then
		echo "$cand"
		exit 0
	fi
done

echo "ensure-go: no Go >= $want found; fetching go$want from the Go module proxy" >&2
boot=$(command -v go 2>/dev/null || true)
if [ -z "$boot" ]; then
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go >&2
	boot=$(command -v go)
fi
arch=$(uname -m)
case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPATH="$tmp/gopath" "$boot" mod download -json \
	"golang.org/toolchain@v0.0.1-go$want.linux-$arch" | awk -F'"' '/"Dir"/{print $4}')
mkdir -p "$HOME/.cache/nfmeter"
rm -rf "$HOME/.cache/nfmeter/go"
cp -r "$dir" "$HOME/.cache/nfmeter/go"
chmod -R u+w "$HOME/.cache/nfmeter/go" "$tmp"
chmod +x "$HOME/.cache/nfmeter/go/bin/"* "$HOME/.cache/nfmeter/go/pkg/tool/"*/*
echo "$HOME/.cache/nfmeter/go/bin/go"
