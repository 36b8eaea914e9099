#!/usr/bin/env bash
# A real OpenID Provider for the single sign-on tests: the certified `oidc-provider` package
# from the npm registry, run with Node. Installed once into $WAYMARK_CACHE/oidc-provider
# (idempotent: a present install of the pinned version is kept).
# Usage: deploy/oidc-provider.sh {install|path}
set -euo pipefail

WM_NAME=oidc-provider
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION="${OIDC_PROVIDER_VERSION:-9.13.3}"
DIR="$WM_CACHE_ROOT/oidc-provider-$VERSION"

cmd_install() {
  command -v node >/dev/null || die "no node: install Node.js 20.19+ (Debian: apt-get install nodejs npm)"
  command -v npm >/dev/null || die "no npm: install npm"
  if [[ -f "$DIR/node_modules/oidc-provider/package.json" ]] &&
    grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/oidc-provider/package.json"; then
    log "oidc-provider $VERSION present in $DIR"
    return 0
  fi
  log "installing oidc-provider $VERSION from the npm registry into $DIR"
  mkdir -p "$DIR"
  [[ -f "$DIR/package.json" ]] || echo '{"name":"waymark-oidc-provider","private":true}' >"$DIR/package.json"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "oidc-provider@$VERSION" >/dev/null
  log "oidc-provider $VERSION installed"
}

case "${1:-}" in
  install) cmd_install ;;
  path) echo "$DIR" ;;
  *) die "usage: $0 {install|path}" ;;
esac
