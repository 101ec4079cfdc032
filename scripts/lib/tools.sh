# Shared set-up for the project's scripts: pinned tools from the npm registry, installed into a
# cache folder outside the repository, and the local PostgreSQL server.
# Source it; it defines functions and exports nothing until they run.

ANVIL_VERSION=1.7.1
SOLC_VERSION=0.8.37
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
PC_CACHE_DIR=${PC_CACHE_DIR:-$HOME/.cache/prover-coordination}

log() { printf '==> %s\n' "$*" >&2; }

# npm_tool PACKAGE VERSION: installs PACKAGE@VERSION once into the cache and prints its folder.
npm_tool() {
    local package=$1 version=$2
    local dir="$PC_CACHE_DIR/npm/${package//\//_}-$version"
    if [ ! -f "$dir/.installed" ]; then
        log "installing $package@$version into $dir"
        mkdir -p "$dir"
        npm install --silent --no-audit --no-fund --prefix "$dir" "$package@$version" >&2
        touch "$dir/.installed"
    fi
    printf '%s\n' "$dir"
}

# ensure_anvil: exports ANVIL_BIN, the pinned anvil (an `anvil` already on PATH is not trusted to
# be the pinned version).
ensure_anvil() {
    if [ -n "${ANVIL_BIN:-}" ] && [ -x "$ANVIL_BIN" ]; then return; fi
    local dir
    dir=$(npm_tool @foundry-rs/anvil-linux-amd64 "$ANVIL_VERSION")
    export ANVIL_BIN="$dir/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    "$ANVIL_BIN" --version | head -n 1 >&2
}

# ensure_solc: exports SOLCJS, the folder of the pinned solc-js package.
ensure_solc() {
    if [ -n "${SOLCJS:-}" ] && [ -f "$SOLCJS" ]; then return; fi
    local dir
    dir=$(npm_tool solc "$SOLC_VERSION")
    export SOLCJS="$dir/node_modules/solc"
}

# ensure_postgres: starts the local PostgreSQL cluster if it is not answering and exports
# TEST_DATABASE_URL (tests create and drop their own databases through it).
ensure_postgres() {
    export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    if pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 50); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return
        sleep 0.2
    done
    log "PostgreSQL did not become ready on 127.0.0.1:5432"
    return 1
}

# pypi_tool NAME PACKAGE==VERSION...: installs the pinned packages once into a virtual
# environment in the cache named NAME and prints its folder.
pypi_tool() {
    local dir="$PC_CACHE_DIR/pypi/$1"
    shift
    if [ ! -f "$dir/.installed" ]; then
        log "installing $* into $dir"
        python3 -m venv "$dir"
        "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
        touch "$dir/.installed"
    fi
    printf '%s\n' "$dir"
}

# ensure_openapi_validator: exports OPENAPI_SPEC_VALIDATOR, the pinned openapi-spec-validator
# (from PyPI) in a virtual environment in the cache.
ensure_openapi_validator() {
    if [ -n "${OPENAPI_SPEC_VALIDATOR:-}" ] && [ -x "$OPENAPI_SPEC_VALIDATOR" ]; then return; fi
    local dir
    dir=$(pypi_tool "openapi-spec-validator-$OPENAPI_SPEC_VALIDATOR_VERSION" \
        "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION")
    export OPENAPI_SPEC_VALIDATOR="$dir/bin/openapi-spec-validator"
}

# ensure_api_tools: exports SCHEMATHESIS (the spec-driven fuzzer's `st`) and
# OPENAPI_PYTHON_CLIENT (a client generator), pinned, from PyPI, in a virtual environment in the
# cache, and API_TOOLS_PYTHON, its Python (which can import a generated client).
ensure_api_tools() {
    if [ -n "${SCHEMATHESIS:-}" ] && [ -x "$SCHEMATHESIS" ]; then return; fi
    local dir
    dir=$(pypi_tool "api-tools-$SCHEMATHESIS_VERSION-$OPENAPI_PYTHON_CLIENT_VERSION" \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION")
    export SCHEMATHESIS="$dir/bin/st" OPENAPI_PYTHON_CLIENT="$dir/bin/openapi-python-client" \
        API_TOOLS_PYTHON="$dir/bin/python"
}

# ensure_jq: jq, which the README's examples and the test command use (Debian's package).
ensure_jq() {
    if command -v jq >/dev/null 2>&1; then return; fi
    log "installing jq"
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q jq >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q jq >/dev/null; }
    else
        log "jq is missing: install it (Debian: apt-get install jq)"
        return 1
    fi
}

# ensure_chromium: headless Chromium and its ChromeDriver (Debian's chromium and chromium-driver,
# /usr/bin/chromium and /usr/bin/chromedriver), which the explorer's tests drive.
ensure_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
    log "installing chromium and chromium-driver"
    if [ "$(id -u)" = 0 ]; then
        local packages="chromium chromium-driver"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null 2>&1 || {
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null
        }
    else
        log "Chromium is missing: install it (Debian: apt-get install chromium chromium-driver)"
        return 1
    fi
}
