#!/usr/bin/env bash
# Make sure the servers the scale-out tests need answer on loopback: PostgreSQL (user postgres,
# trust) and Redis. Install them with apt-get when they are missing, start them when they do not
# answer, and fail loudly (never skip) when they still do not.
set -u

answers() {  # host port: does something listen there?
  python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('$1',$2)))"
}
pg_ok() { answers 127.0.0.1 5432; }
redis_ok() {
  python3 - <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", 6379), timeout=1)
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
as_root_install() {  # package...
  if [ "$(id -u)" != 0 ]; then
    echo "Missing $*: install it (apt-get install $*) or run make test as root." >&2
    return 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! pg_ok && ! command -v pg_ctlcluster >/dev/null; then
  echo "PostgreSQL is not installed; installing it."
  as_root_install postgresql || true
  # A fresh cluster asks for passwords over TCP; the tests connect as postgres from loopback.
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    [ -f "$hba" ] && sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  done
fi
if ! pg_ok; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432; starting it."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 30); do pg_ok && break; sleep 1; done
fi
if ! redis_ok && ! command -v redis-server >/dev/null; then
  echo "Redis is not installed; installing it."
  as_root_install redis-server || true
fi
if ! redis_ok; then
  echo "Redis does not answer on 127.0.0.1:6379; starting it."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis_ok && break; sleep 1; done
fi
pg_ok || { echo "PostgreSQL is not answering on 127.0.0.1:5432 and could not be started: the scale-out tests need it." >&2; exit 1; }
redis_ok || { echo "Redis is not answering on 127.0.0.1:6379 and could not be started: the scale-out tests need it." >&2; exit 1; }
echo "PostgreSQL and Redis answer."
