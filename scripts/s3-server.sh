#!/usr/bin/env bash
# Local S3-compatible server for kubeseen's tests: moto's standalone server,
# installed from PyPI into a private virtualenv, bound to loopback only.
#
#   scripts/s3-server.sh install          create the venv, pip-install the pinned moto S3 server
#   eval "$(scripts/s3-server.sh start)"  start on a free 127.0.0.1 port, print `export` lines
#   scripts/s3-server.sh mkbucket NAME    create bucket NAME (idempotent) on the running server
#   scripts/s3-server.sh env              print the `export` lines of the running server again
#   scripts/s3-server.sh status           exit 0 if the server is running (prints pid and endpoint)
#   scripts/s3-server.sh stop             stop it (idempotent)
#
# Environment:
#   KUBESEEN_VENV      virtualenv          (default: $HOME/.cache/kubeseen/venv)
#   KUBESEEN_S3_STATE  pid/port/log dir    (default: $HOME/.cache/kubeseen/s3)
#   KUBESEEN_PYTHON    interpreter used to create the venv (default: python3)
#
# Only `install` touches the network (pip, PyPI). The server binds 127.0.0.1 only;
# moto keeps everything in memory, so every `start` begins with no buckets.
set -euo pipefail

MOTO_VERSION="5.2.5"
# moto[server] would also pull every other service's extras (cfn-lint, sympy,
# docker, ...: ~320 MB, ~35 s). The S3 server needs only moto[s3] plus the two
# packages moto's `server` extra adds for the HTTP front end, with moto's own
# constraints: ~140 MB, ~12 s.
MOTO_PKGS=("moto[s3]==${MOTO_VERSION}" "flask!=2.2.0,!=2.2.1" "flask-cors")
MOTO_SPEC="${MOTO_PKGS[*]}"

VENV="${KUBESEEN_VENV:-$HOME/.cache/kubeseen/venv}"
STATE="${KUBESEEN_S3_STATE:-$HOME/.cache/kubeseen/s3}"
HOST_PY="${KUBESEEN_PYTHON:-python3}"
VPY="$VENV/bin/python"
STAMP="$VENV/.kubeseen-moto"
START_TIMEOUT=30   # seconds to wait for the server to answer HTTP

# Loopback must never go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export PIP_DISABLE_PIP_VERSION_CHECK=1

die() { echo "s3-server.sh: error: $*" >&2; exit 1; }
note() { echo "s3-server.sh: $*" >&2; }

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

installed_ok() {
  [[ -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$MOTO_SPEC" ]] || return 1
  "$VPY" - "$MOTO_VERSION" >/dev/null 2>&1 <<'PY'
import sys, importlib.metadata as md
assert md.version("moto") == sys.argv[1]
import moto.server, flask, flask_cors, boto3  # noqa: F401  (server + mkbucket deps)
PY
}

cmd_install() {
  if installed_ok; then
    return 0
  fi
  mkdir -p "$(dirname "$VENV")"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/kubeseen-s3-install.XXXXXX")"
  # Serialise concurrent installs into the same venv.
  exec 9>"$VENV.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if installed_ok; then rm -f "$log"; return 0; fi

  command -v "$HOST_PY" >/dev/null 2>&1 || die "'$HOST_PY' not found (set KUBESEEN_PYTHON)"
  if [[ ! -x "$VPY" ]]; then
    rm -rf "$VENV"
    if ! "$HOST_PY" -m venv "$VENV" >"$log" 2>&1; then
      # Debian without python3-venv has no ensurepip: make a pip-less venv and
      # drive the host's pip into it (pip >= 22.3 has --python).
      rm -rf "$VENV"
      if ! "$HOST_PY" -m venv --without-pip "$VENV" >>"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        die "could not create a virtualenv at $VENV with $HOST_PY"
      fi
    fi
  fi
  local pip=("$VPY" -m pip)
  if ! "$VPY" -m pip --version >/dev/null 2>&1; then
    pip=("$HOST_PY" -m pip --python "$VPY")
  fi
  rm -f "$STAMP"
  if ! "${pip[@]}" install --quiet --disable-pip-version-check --no-input "${MOTO_PKGS[@]}" >>"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "pip install $MOTO_SPEC into $VENV failed (log above)"
  fi
  echo "$MOTO_SPEC" >"$STAMP"
  if ! installed_ok; then
    cat "$log" >&2; rm -f "$log"
    die "'$MOTO_SPEC' installed into $VENV but moto.server does not import"
  fi
  rm -f "$log"
}

# True while process $1 exists and is not a zombie (an orphaned server whose
# reaper is slow or absent, e.g. PID 1 in a container, lingers as a zombie).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != "Z" ]] || return 1
  fi
  return 0
}

# Echo the pid of the running server, or fail. Checks the pid still is our moto
# (a stale pid file may name an unrelated process after pid reuse).
running_pid() {
  local pid
  [[ -f "$STATE/pid" ]] || return 1
  pid="$(cat "$STATE/pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'moto' || return 1
  fi
  echo "$pid"
}

print_env() {
  local port="$1"
  cat <<EOF
export KUBESEEN_TEST_S3_ENDPOINT=http://127.0.0.1:${port}
export AWS_ENDPOINT_URL=http://127.0.0.1:${port}
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ALLOW_HTTP=true
export AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false
export NO_PROXY=${NO_PROXY}
export no_proxy=${NO_PROXY}
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE
EOF
}

free_port() {
  "$VPY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# 0 once http://127.0.0.1:$1/ answers anything HTTP (any status code).
answers_http() {
  "$VPY" - "$1" >/dev/null 2>&1 <<'PY'
import sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open("http://127.0.0.1:%s/moto-api/" % sys.argv[1], timeout=2).read()
except urllib.error.HTTPError:
    pass
PY
}

cmd_start() {
  installed_ok || die "moto is not installed in $VENV; run: $0 install"
  mkdir -p "$STATE"
  local pid
  if pid="$(running_pid)"; then
    die "a server from $STATE is already running (pid $pid, port $(cat "$STATE/port" 2>/dev/null || echo '?')); run '$0 stop' or set KUBESEEN_S3_STATE"
  fi
  rm -f "$STATE/pid" "$STATE/port"
  local log="$STATE/server.log" attempt port deadline
  for attempt in 1 2 3; do
    port="$(free_port)"
    # Server output goes to the log, never to our stdout: `eval "$(... start)"`
    # waits for stdout to close. Background jobs of a non-interactive shell
    # ignore SIGINT, so Ctrl-C in a caller does not kill it: `stop` does.
    "$VPY" -m moto.server -H 127.0.0.1 -p "$port" </dev/null >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$STATE/pid"
    echo "$port" >"$STATE/port"
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
      if ! alive "$pid"; then
        break
      fi
      if answers_http "$port"; then
        print_env "$port"
        return 0
      fi
      sleep 0.2
    done
    if alive "$pid"; then
      cmd_stop
      cat "$log" >&2
      die "moto server did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s (log above)"
    fi
    rm -f "$STATE/pid" "$STATE/port"
    # Lost the race for the port to another process? Try another one.
    if grep -qi 'address already in use' "$log"; then
      note "port $port was taken before moto bound it; retrying ($attempt)"
      continue
    fi
    break
  done
  cat "$log" >&2
  die "moto server exited during start-up (log above)"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do   # up to ~10 s
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    if alive "$pid"; then die "could not stop moto server (pid $pid)"; fi
  fi
  rm -f "$STATE/pid" "$STATE/port"
}

endpoint() {
  local port
  running_pid >/dev/null || die "no moto server running from $STATE; run: eval \"\$($0 start)\""
  port="$(cat "$STATE/port")"
  echo "http://127.0.0.1:$port"
}

cmd_env() {
  running_pid >/dev/null || die "no moto server running from $STATE"
  print_env "$(cat "$STATE/port")"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running: pid $pid, http://127.0.0.1:$(cat "$STATE/port")"
  else
    echo "not running"
    return 1
  fi
}

cmd_mkbucket() {
  (($# >= 1)) || die "usage: $0 mkbucket NAME..."
  installed_ok || die "moto is not installed in $VENV; run: $0 install"
  local ep
  ep="$(endpoint)"
  "$VPY" - "$ep" "$@" <<'PY'
import sys, boto3
from botocore.config import Config
ep, names = sys.argv[1], sys.argv[2:]
s3 = boto3.client(
    "s3", endpoint_url=ep, region_name="us-east-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
    config=Config(s3={"addressing_style": "path"}, proxies={}),
)
for name in names:
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
PY
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  env) shift; cmd_env "$@" ;;
  status) shift; cmd_status "$@" ;;
  mkbucket) shift; cmd_mkbucket "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
