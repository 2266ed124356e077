#!/usr/bin/env bash
# Make sure the servers the scale-out tests need answer: start them when they do not, and
# fail loudly (never skip) when they still do not.
set -u

pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
}
redis_ok() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_ok; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432; starting it."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 30); do pg_ok && break; sleep 1; done
fi
if ! redis_ok; then
  echo "Redis does not answer on 127.0.0.1:6379; starting it."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis_ok && break; sleep 1; done
fi
pg_ok || { echo "PostgreSQL is not answering on 127.0.0.1:5432 and could not be started: the scale-out tests need it." >&2; exit 1; }
redis_ok || { echo "Redis is not answering on 127.0.0.1:6379 and could not be started: the scale-out tests need it." >&2; exit 1; }
echo "PostgreSQL and Redis answer."
