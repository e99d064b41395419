#!/usr/bin/env bash
# Installs e3's generic base configuration on a fresh Hetzner Cloud server
# with nixos-anywhere. Run by the `terraform_data` install resources of
# main.tf (at apply time, once per server), never at plan time.
#
# Environment: FLAKE, CONFIGURATION (`base-hetzner` or `base-hetzner-router`),
# ADDRESS (where the server is reached), JUMP (comma-separated `root@host`
# jump hosts, or empty), GATEWAY (default route to set first on a server
# without a public address, or empty), IDENTITY_FILE (or empty: ssh-agent).
#
# Root's SSH keys are the ones Hetzner put on the bootstrap image (the
# project's registered keys): they are carried into the new system with
# --extra-files, so that Colmena can log in; the base configuration itself
# holds no keys.
set -euo pipefail

ssh_opts=(-o StrictHostKeyChecking=accept-new -o ConnectTimeout=10)
anywhere=(--ssh-option StrictHostKeyChecking=accept-new)
if [[ -n ${IDENTITY_FILE:-} ]]; then
	ssh_opts+=(-i "$IDENTITY_FILE")
	anywhere+=(-i "$IDENTITY_FILE")
fi
if [[ -n ${JUMP:-} ]]; then
	ssh_opts+=(-J "$JUMP")
	anywhere+=(--ssh-option "ProxyJump=$JUMP")
fi
target=root@$ADDRESS

# A new server's SSH daemon comes up a little after the API reports it running.
for attempt in $(seq 30); do
	if ssh "${ssh_opts[@]}" "$target" true 2>/dev/null; then
		break
	fi
	if [[ $attempt == 30 ]]; then
		echo "e3: $target does not answer on SSH" >&2
		exit 1
	fi
	sleep 5
done

if [[ -n ${GATEWAY:-} ]]; then
	ssh "${ssh_opts[@]}" "$target" ip route replace default via "$GATEWAY"
fi

extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
# root's home in the new system: --extra-files copies $extra to its /.
keys_dir="$extra/root"
install -d -m 700 "$keys_dir/.ssh"
# shellcheck disable=SC2016 # $HOME is the remote root's
ssh "${ssh_opts[@]}" "$target" 'cat "$HOME/.ssh/authorized_keys"' >"$keys_dir/.ssh/authorized_keys"
chmod 600 "$keys_dir/.ssh/authorized_keys"

exec nixos-anywhere \
	--flake "$FLAKE#$CONFIGURATION" \
	--target-host "$target" \
	--extra-files "$extra" \
	--no-substitute-on-destination \
	"${anywhere[@]}"
