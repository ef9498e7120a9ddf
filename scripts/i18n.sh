#!/usr/bin/env bash
# Message catalogues of the web command centre (Babel).
#   scripts/i18n.sh extract   -> messages.pot from the templates and Python sources of the web
#                                and of every domain with templates of its own (enterprise, facilities)
#   scripts/i18n.sh update    -> extract, then merge new messages into zh_CN and en .po files
#   scripts/i18n.sh compile   -> compile .mo files (optional: .po files are compiled at run time)
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-$(dirname "$(command -v python3)")/pybabel}"
[ -x .venv/bin/pybabel ] && PYBABEL=.venv/bin/pybabel
dir=src/zhikong/web/i18n
case "${1:-update}" in
  extract)
    "$PYBABEL" extract -F "$dir/babel.cfg" -k N_ -k gettext -k ngettext:1,2 --no-location \
      --sort-output --project zhikong -o "$dir/messages.pot" \
      $(for t in src/zhikong/*/templates; do dirname "$t"; done | sort -u) ;;
  update)
    "$0" extract
    for loc in zh_CN en; do
      if [ -f "$dir/$loc/LC_MESSAGES/messages.po" ]; then
        "$PYBABEL" update --no-fuzzy-matching -i "$dir/messages.pot" -d "$dir" -l "$loc"
      else
        "$PYBABEL" init -i "$dir/messages.pot" -d "$dir" -l "$loc"
      fi
    done ;;
  compile)
    "$PYBABEL" compile -d "$dir" ;;
  *) echo "usage: $0 extract|update|compile" >&2; exit 2 ;;
esac
