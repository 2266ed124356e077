#!/usr/bin/env bash
# The browser tests drive Debian's Chromium at /usr/bin/chromium (never a downloaded build:
# Playwright's own browser download does not work on machines without open internet).
# Install it with apt-get when it is missing, or fail with a sentence that says how.
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "Chromium is installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Chromium is missing; installing Debian's chromium package with apt-get."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "The browser tests need Chromium at $CHROMIUM: install it with 'sudo apt-get update && sudo apt-get install -y chromium' (Debian's package), then run 'make test' again." >&2
  exit 1
fi
echo "Chromium is installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
