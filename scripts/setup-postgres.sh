#!/usr/bin/env bash
# Installs PostgreSQL 15 server headers and builds pgvector from Debian's own source package
# (taken from the next Debian release, since bookworm has none). Idempotent: does nothing when
# the extension is already installed for the server that pg_config reports.
#
# The archive URI is read from the machine's own apt sources, so this works behind whatever
# mirror the machine is set up with. Needs root (apt-get, make install).
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
SRC_SUITE="${PGVECTOR_SUITE:-trixie}"
LIST=/etc/apt/sources.list.d/reembed-pgvector-src.sources

log() { printf 'setup-postgres: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

if ! command -v initdb >/dev/null 2>&1 && [ ! -x "/usr/lib/postgresql/${PG_MAJOR}/bin/initdb" ]; then
  log "installing postgresql-${PG_MAJOR}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-${PG_MAJOR}" >/dev/null
fi

ext_dir() { "$PG_CONFIG" --sharedir 2>/dev/null | sed 's|$|/extension|'; }

if [ -x "$PG_CONFIG" ] && [ -f "$(ext_dir)/vector.control" ]; then
  log "pgvector already installed ($(grep default_version "$(ext_dir)/vector.control" | tr -d "'" | awk '{print $3}'))"
  exit 0
fi

# The Debian archive URI this machine already uses (deb822 or one-line format).
uri=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/debian.sources | grep -v security | head -n1)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  log "could not find a Debian archive URI in the apt sources"; exit 1
fi

if [ ! -f "$LIST" ]; then
  log "adding deb-src for ${SRC_SUITE} from the machine's archive"
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$SRC_SUITE" | $SUDO tee "$LIST" >/dev/null
fi

log "apt-get update"
$SUDO apt-get update -qq
log "installing build dependencies"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
  "postgresql-server-dev-${PG_MAJOR}" build-essential dpkg-dev >/dev/null

work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching pgvector source"
apt-get source -qq --download-only pgvector >/dev/null
dpkg-source -x --skip-patches ./pgvector_*.dsc src >/dev/null 2>&1 || dpkg-source -x ./pgvector_*.dsc src >/dev/null
cd src
log "building pgvector $(sed -n 's/^EXTVERSION = //p' Makefile) against PostgreSQL ${PG_MAJOR}"
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)" >/dev/null
$SUDO make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
log "pgvector installed into $(ext_dir)"
