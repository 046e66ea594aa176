#!/usr/bin/env bash
# Starts (or stops) the SSH server of the emulated Raspberry Pi made by scripts/make-arm64-pi.sh, so
# edgecomp reaches it exactly like a Pi on the network: `edgecomp targets check rpi4-emulated`.
#
# Usage: scripts/arm64-pi-sshd.sh start|stop|status
#   EDGECOMP_ARM64_PI=DIR   the emulated Pi [default: ~/.cache/edgecomp/arm64-pi]
#   EDGECOMP_SSH_PORT=PORT  port on 127.0.0.1 [default: 2222, as in targets/rpi4-emulated.yaml]
#
# The server is this machine's OpenSSH sshd with a config, host key and client key of its own under
# DIR/ssh (nothing of the machine's SSH setup is read or changed), listening on 127.0.0.1 only. Its
# sessions get DIR/bin on PATH, so `python3-arm64` is the Pi's arm64 python under QEMU (a name that
# the user's shell start-up files, which may put other pythons first on PATH, do not shadow).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${EDGECOMP_ARM64_PI:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecomp/arm64-pi}
PORT=${EDGECOMP_SSH_PORT:-2222}
SSH_DIR="$DIR/ssh"
SSHD=${SSHD:-/usr/sbin/sshd}

say() { echo "arm64-pi-sshd: $*"; }
running_pid() { [ -f "$SSH_DIR/sshd.pid" ] && kill -0 "$(cat "$SSH_DIR/sshd.pid")" 2>/dev/null && cat "$SSH_DIR/sshd.pid"; }

start() {
  [ -x "$DIR/bin/python3-arm64" ] || { say "no emulated Pi in $DIR; run scripts/make-arm64-pi.sh first" >&2; exit 1; }
  [ -x "$SSHD" ] || { say "$SSHD is missing: install openssh-server" >&2; exit 1; }
  if pid=$(running_pid); then
    say "already running (pid $pid) on 127.0.0.1:$(sed -n 's/^Port //p' "$SSH_DIR/sshd_config")"; return 0
  fi
  mkdir -p "$SSH_DIR"
  for key in host_key client_key; do
    [ -f "$SSH_DIR/$key" ] || ssh-keygen -q -t ed25519 -N "" -C "edgecomp-arm64-pi" -f "$SSH_DIR/$key"
  done
  cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
  cat > "$SSH_DIR/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_key
AuthorizedKeysFile $SSH_DIR/authorized_keys
PidFile $SSH_DIR/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
SetEnv PATH=$DIR/bin:/usr/local/bin:/usr/bin:/bin
LogLevel ERROR
EOF
  mkdir -p /run/sshd 2>/dev/null || true  # privilege-separation folder (needed when run as root)
  "$SSHD" -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log"
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" > "$SSH_DIR/known_hosts"
  for _ in $(seq 50); do running_pid >/dev/null && break; sleep 0.1; done
  pid=$(running_pid) || { say "sshd did not start: $(tail -n 3 "$SSH_DIR/sshd.log")" >&2; exit 1; }
  say "running (pid $pid) on 127.0.0.1:$PORT; try: edgecomp targets check rpi4-emulated"
  [ "$PORT" = 2222 ] || say "not the profile's port: export EDGECOMP_SSH_PORT=$PORT for edgecomp too"
  [ "$DIR" = "$HOME/.cache/edgecomp/arm64-pi" ] ||
    say "not the profile's folder: copy $ROOT/targets/rpi4-emulated.yaml to ~/.config/edgecomp/targets/ and point key_file and known_hosts at $SSH_DIR"
}

stop() {
  if pid=$(running_pid); then
    kill "$pid" && say "stopped (pid $pid)"
  else
    say "not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if pid=$(running_pid); then say "running (pid $pid)"; else say "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
