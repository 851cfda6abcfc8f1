# Sourced by the image scripts: `pinned NAME` prints a version pinned in
# scripts/install-tools.sh (the one place versions are set).
pinned() {
  sed -n "s/^$1=\"\(.*\)\"/\1/p" "$(dirname "${BASH_SOURCE[0]}")/../install-tools.sh"
}
