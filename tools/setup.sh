#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for building and testing pimlir.
#
#   - installs LLVM/MLIR 22 development packages (skipped when already present)
#   - creates <repo>/.venv and installs tools/requirements.txt into it
#     (skipped when the recorded hash of requirements.txt is unchanged)
#   - checks that cargo is available
#
# Meant to run as root; falls back to sudo when not root. A second run on a
# provisioned machine does no network access and finishes in well under 2 s.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$REPO/.venv"
REQS="$REPO/tools/requirements.txt"
HASH_FILE="$VENV/.requirements.sha256"

log() { printf '[setup] %s\n' "$*"; }

# Run a command as root (directly, or through sudo if we are not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "error: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

# --- 1. Debian packages ------------------------------------------------------
APT_PACKAGES=(
    llvm-22-dev libmlir-22-dev mlir-22-tools libclang-22-dev llvm-22-tools
    libpolly-22-dev libzstd-dev zlib1g-dev build-essential
)
# python3 may be a pyenv interpreter that already ships venv; only ask Debian
# for python3-venv when the interpreter on PATH cannot create venvs.
if ! python3 -m venv --help >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-venv)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing missing Debian packages: ${missing[*]}"
    as_root apt-get update
    # Install the full list so apt resolves them together; already-installed
    # ones are no-ops.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT_PACKAGES[@]}"
    apt_summary="apt: installed ${#missing[@]} package(s)"
else
    apt_summary="apt: ok"
fi

# --- 2. Python virtual environment -------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    log "creating Python venv at $VENV"
    python3 -m venv "$VENV"
fi

want_hash="$(sha256sum "$REQS" | cut -d' ' -f1)"
have_hash="$(cat "$HASH_FILE" 2>/dev/null || true)"
if [ "$want_hash" != "$have_hash" ]; then
    log "installing Python requirements from $REQS"
    # --prefer-binary: the mirror may carry sdists next to wheels; never build
    # onnx/numpy from source on a 2-core machine.
    "$VENV/bin/python" -m pip install --disable-pip-version-check --prefer-binary -r "$REQS"
    # Record the hash only after a successful install so a failed run retries.
    printf '%s\n' "$want_hash" > "$HASH_FILE"
    venv_summary="venv: requirements installed"
else
    venv_summary="venv: ok"
fi

# --- 3. Rust toolchain ---------------------------------------------------------
if command -v cargo >/dev/null 2>&1; then
    cargo_summary="cargo: ok"
elif [ -x "$HOME/.cargo/bin/cargo" ]; then
    log "warning: cargo is in $HOME/.cargo/bin but not on PATH; run: . \"\$HOME/.cargo/env\"" >&2
    cargo_summary="cargo: not on PATH"
else
    log "warning: cargo not found; install Rust (e.g. rustup) before building pimlir" >&2
    cargo_summary="cargo: MISSING"
fi

log "done ($apt_summary; $venv_summary; $cargo_summary)"
