#!/usr/bin/env bash
# Module boundaries (DESIGN §2): a file under modules/<m>/ may include the kernel's and other
# modules' public headers (<souk/...>) and its own folder's headers, never a path with "..",
# never "modules/...", never another module's folder, and never Beast (kernel-only).
# Usage: scripts/check-boundaries.sh [root]   — exits 1 listing every violation.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
violations=0
report() { echo "boundary violation: $1"; violations=$((violations + 1)); }

shopt -s nullglob
for dir in "$root"/modules/*/; do
  module=$(basename "$dir")
  while IFS= read -r -d '' file; do
    rel=${file#"$root"/}
    while IFS= read -r line; do
      inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")
      quoted=0
      [[ "$line" =~ include[[:space:]]*\" ]] && quoted=1
      case "$inc" in
        *..*) report "$rel includes '$inc' (no '..' paths)" ;;
        modules/*) report "$rel includes '$inc' (another module's internals)" ;;
        boost/beast*) report "$rel includes '$inc' (Beast stays in the kernel's HTTP files)" ;;
        souk/*) ;;  # public headers: the kernel and other modules' include/souk/<module>/
        *)
          # A quoted include must name a file inside this module's own folder.
          if ((quoted)) && [[ ! -e "$(dirname "$file")/$inc" && ! -e "$dir/$inc" ]]; then
            report "$rel includes \"$inc\" (not in modules/$module/ and not a public header)"
          fi
          ;;
      esac
      # Own folder headers are fine; other modules' folder names must not appear.
      for other in "$root"/modules/*/; do
        o=$(basename "$other")
        [[ "$o" == "$module" ]] && continue
        [[ "$inc" == "$o/"* && ! -e "$dir/$inc" ]] && report "$rel includes '$inc' (module $o's folder)"
      done
    done < <(grep -hE '^[[:space:]]*#[[:space:]]*include' "$file" || true)
  done < <(find "$dir" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print0)
done

# Public headers must not pull in module internals either.
while IFS= read -r -d '' file; do
  rel=${file#"$root"/}
  if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(\.\./|modules/)' "$file" >/dev/null; then
    report "$rel (public header) includes a private path"
  fi
done < <(find "$root/include" -type f -name '*.hpp' -print0 2>/dev/null)

if ((violations)); then
  echo "$violations boundary violation(s)"
  exit 1
fi
echo "module boundaries: ok"
