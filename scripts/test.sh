#!/usr/bin/env bash
# The README's second command, and CI's: Debian's test peers, .venv with the dev extra, lint, types, tests.
# Options go to pytest (for example -x -q tests/core).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The display's Chinese words need a font with CJK glyphs (pygame's own font has none).
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "the tests need Debian's ${need[*]}: run  sudo apt-get install -y ${need[*]}  and then this command again" >&2
        exit 1
    fi
    echo "installing ${need[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The tests start their own brokers on free ports; stop the packaged service if apt started one.
if command -v systemctl >/dev/null 2>&1; then
    systemctl stop mosquitto >/dev/null 2>&1 || true
fi

. scripts/venv.sh
make_venv
install_andon dev
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy GPIOZERO_PIN_FACTORY=mock
echo "ruff"
.venv/bin/ruff check .
echo "mypy"
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
