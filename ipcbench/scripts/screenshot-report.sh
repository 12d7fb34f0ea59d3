#!/bin/sh
# Renders an ipcbench HTML report to a PNG with headless Chromium, to eyeball the layout or to
# refresh docs/report-example.png:
#
#   ipcbench/scripts/screenshot-report.sh REPORT.html OUT.png [WIDTH,HEIGHT]
#
# The report is self-contained (no network), and Chromium is told not to phone home either.
# Exits 0 with "skipped: chromium not installed" where there is no Chromium, so CI without it
# still passes.
set -eu

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1400,2400}

if [ ! -r "$report" ]; then
    echo "error: cannot read report $report" >&2
    exit 1
fi

chromium=""
for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then
        chromium=$c
        break
    fi
done
if [ -z "$chromium" ]; then
    echo "skipped: chromium not installed (apt-get install -y chromium)"
    exit 0
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case "$out" in
    /*) abs_out=$out ;;
    *) abs_out=$(pwd)/$out ;;
esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --window-size="$size" \
    --screenshot="$abs_out" "file://$abs_report" >/dev/null 2>&1 || {
    echo "error: chromium failed to render $report" >&2
    exit 1
}
if [ ! -s "$abs_out" ]; then
    echo "error: chromium wrote no screenshot to $out" >&2
    exit 1
fi
echo "wrote $out"
