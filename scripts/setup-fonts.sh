#!/usr/bin/env bash
# Installs the Debian font packages the font-search story (`reembed demo --story fonts`) and its
# tests render glyphs from: about 300 TrueType/OpenType faces of serif, sans, monospace and
# display/handwriting families in regular, bold, italic and other weights (about 75 MB
# installed). Chosen for variety per megabyte: big families with many weights (fonts-texgyre,
# fonts-lato, fonts-noto-core, fonts-junicode, fonts-cmu) are left out. Idempotent: apt-get
# skips what is installed. Debian's archive only. Needs root (apt-get).
set -euo pipefail

PACKAGES=(
  # serif
  fonts-liberation fonts-urw-base35 fonts-freefont-ttf fonts-crosextra-caladea fonts-gfs-didot
  fonts-linuxlibertine fonts-ebgaramond fonts-oldstandard fonts-adf-accanthis fonts-adf-berenis
  # sans
  fonts-crosextra-carlito fonts-cantarell fonts-open-sans fonts-roboto-unhinted fonts-dejavu-core
  fonts-dejavu-extra fonts-cabin fonts-go fonts-adf-gillius fonts-adf-universalis
  # monospace
  fonts-noto-mono fonts-inconsolata fonts-hack fonts-jetbrains-mono fonts-courier-prime fonts-firacode
  # display and handwriting
  fonts-comic-neue fonts-dancingscript fonts-lobster fonts-league-spartan fonts-quicksand
  fonts-humor-sans fonts-yanone-kaffeesatz fonts-lindenhill fonts-beteckna fonts-ecolier-court
  fonts-isabella fonts-tomsontalks fonts-femkeklaver fonts-dkg-handwriting fonts-kristi fonts-breip
)

log() { printf 'setup-fonts: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  log "all ${#PACKAGES[@]} font packages already installed"
else
  log "installing ${#missing[@]} font packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends fontconfig "${missing[@]}" >/dev/null
fi

faces=$(fc-list --format '%{fontformat}\n' | grep -c -e TrueType -e CFF || true)
log "fontconfig lists $faces TrueType/OpenType faces"
