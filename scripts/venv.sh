# Sourced by demo.sh and test.sh (from the checkout): .venv made with the system's python3, andon in it.
# Debian 12 and Raspberry Pi OS refuse `pip install` outside a virtual environment (PEP 668), so
# everything goes into .venv; run the tools as .venv/bin/andon, .venv/bin/pytest and so on.

andon_python() {
    # Debian's own python3 first (the target platform), then python3 on PATH; ANDON_PYTHON overrides.
    local candidate
    for candidate in "${ANDON_PYTHON:-}" /usr/bin/python3 python3; do
        [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "andon needs Python 3.11 or newer (Debian 12 and Raspberry Pi OS bookworm have it): apt-get install python3" >&2
    return 1
}

make_venv() {
    # Make .venv unless a working one is there; install Debian's python3-venv first when it is missing.
    if [ -x .venv/bin/python ] && [ -x .venv/bin/pip ] && .venv/bin/python -c 'import sys' 2>/dev/null; then
        return 0
    fi
    local python output
    python=$(andon_python) || return 1
    rm -rf .venv
    if output=$("$python" -m venv .venv 2>&1); then
        return 0
    fi
    rm -rf .venv
    case "$output" in
        *ensurepip*|*python3*-venv*) ;;
        *) echo "$output" >&2; echo "could not make .venv with $python" >&2; return 1 ;;
    esac
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "python3 -m venv needs Debian's python3-venv package: run  sudo apt-get install -y python3-venv  and then this command again" >&2
        return 1
    fi
    echo "installing python3-venv from Debian (python3 -m venv needs it)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv .venv
}

install_andon() {
    # Install andon with the extra $1 (display, dev, ...) into .venv, again only when pyproject.toml changed.
    local stamp=".venv/.andon-$1" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $1"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "installing andon[$1] into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e ".[$1]"
    echo "$want" > "$stamp"
}
