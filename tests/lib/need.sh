# Installs what a script needs, only when it is missing, one Debian package at a time.
# Sourced by tests/run-all and the bench/e2e scripts:
#
#   need_package PKG...     install each Debian package that is not installed yet, by itself
#   need_command CMD PKG    install PKG when the command CMD is not on PATH
#
# Each package is installed by itself so that one never drags in a package that conflicts
# with what the machine already has (the machine image's Node.js 20 bundles npm; Debian's
# `npm` package conflicts with it). `apt-get update` runs once, before the first install.
# Installing needs root; without it the functions say what to run instead.

_need_apt_updated=

_need_apt_install() {
  local pkg=$1
  if [[ $(id -u) != 0 ]]; then
    echo "missing Debian package '$pkg': run 'apt-get install -y $pkg' as root, then run this again" >&2
    return 1
  fi
  if [[ -z $_need_apt_updated ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _need_apt_updated=1
  fi
  echo "installing Debian package $pkg" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
}

_need_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

need_package() {
  local pkg
  for pkg in "$@"; do
    _need_installed "$pkg" || _need_apt_install "$pkg" || return 1
  done
}

need_command() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ $pkg == npm ]] && _need_installed nodejs && ! _need_installed npm &&
    dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource; then
    # NodeSource's nodejs ships npm inside it and conflicts with Debian's npm.
    echo "node is NodeSource's build but npm is missing from it: reinstall 'nodejs' from the same source (apt-get install --reinstall nodejs)" >&2
    return 1
  fi
  _need_apt_install "$pkg"
}
