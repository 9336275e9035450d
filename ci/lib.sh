# shellcheck shell=bash
# ci/lib.sh: what the project's test and benchmark scripts share. Sourced, never run:
#
#     source "$ROOT/ci/lib.sh"
#
# It works with or without `set -e`, `set -u` and an ERR trap. Its state lives in lowercase lib_*
# variables (none is read from the environment); the functions:
#
# Messages (the script's name is lib_name, by default its file name):
#   log MSG...             "==> MSG" on stdout
#   warn MSG...            "NAME: warning: MSG" on stderr
#   die MSG...             "NAME: error: MSG" on stderr, then exit lib_die_status (default 1)
# Debian packages (apt-get, through sudo when not root; quiet unless it fails):
#   want_command CMD [PKG] queue PKG (default CMD) when CMD is not on the PATH
#   want_package PKG       queue PKG when dpkg does not have it installed
#   install_wanted         install what is queued, in one apt-get call (nothing if nothing is)
#   apt_install PKG...     install PKGs; `apt-get update` only if the install fails without it,
#                          at most once a run
# Ports:
#   free_port VAR          set VAR to a TCP port of 127.0.0.1 that nothing uses and that this
#                          script has not handed out before
# Processes and cleanup:
#   cleanup_on_exit        at exit (and on INT: status 130, TERM: 143) run lib_exit_hook (a
#                          function name, if set), stop the tracked processes and every background
#                          job, remove the temporary directories (kept with lib_keep set, or with
#                          lib_keep_on_error set when the status is not 0: lib_kept_fmt says so)
#   track_pid PID          stop PID at exit; forget_pid PID: no longer
#   stop_pids PID...       TERM each, KILL what is left after 10 s, reap and forget them
#   stop_tracked           stop_pids every tracked process
#   temp_dir VAR TEMPLATE  VAR=$(mktemp -d TEMPLATE) (its parent made first), removed at exit
# Numbers:
#   secs_since T0          seconds since T0 (an EPOCHREALTIME), 3 decimals
#   div A B [DIGITS]       A / B with DIGITS (3) decimals, 0 when B is not above 0
# The gateway (BIN: the microcloud binary):
#   gateway_user_add BIN DATA USER PASSWORD LOG
#                          `BIN user add USER --data DATA` with PASSWORD on stdin; output in LOG
#   gateway_start BIN DATA LISTEN LOG [ARG...]
#                          `BIN gateway --data DATA --listen LISTEN ARG...` in the background
#                          (output appended to LOG, tracked), waits (30 s at most) until it has
#                          written "PID URL" into DATA/gateway.lock and answers HTTP there; sets
#                          GW_PID, GW_URL (http://127.0.0.1:PORT, no trailing slash; a gateway
#                          on 0.0.0.0 is reached on 127.0.0.1) and GW_PORT
# Garage (a single-node S3 server):
#   garage_find            set GARAGE to the binary: GARAGE_BIN, else the PATH, else
#                          ~/.cargo/bin/garage; dies when there is none (ci/install-deps builds it)
#   garage_start DIR [KEY [BUCKET...]]
#                          writes DIR/garage.toml (metadata and data in DIR, S3 API and RPC on
#                          free ports of 127.0.0.1), starts the server (tracked, log in
#                          DIR/garage.log), waits (60 s at most) until it answers, applies a
#                          one-node layout, creates the key KEY (default "microcloud") and the
#                          BUCKETs; sets GARAGE_PID GARAGE_CONF S3_URL S3_PORT S3_KEY S3_SECRET
#                          (region "garage"; path-style URLs)
#   garage_bucket NAME     a new bucket the key may read, write and own
#   garage_cli ARG...      the garage command line on that server (60 s at most)

[[ ${BASH_SOURCE[0]} != "$0" ]] || { echo "ci/lib.sh is sourced by the scripts, not run" >&2; exit 2; }

lib_name=$(basename -- "$0")
lib_die_status=1

log() { printf '==> %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$lib_name" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$lib_name" "$*" >&2
    exit "$lib_die_status"
}

# --- Debian packages -------------------------------------------------------------------------

lib_apt_updated=
lib_apt_wanted=()

apt_install() { # PKG...
    local sudo=() logf rc=0
    (($#)) || return 0
    [[ $EUID -eq 0 ]] || sudo=(sudo)
    log "installing $* with apt-get"
    logf=$(mktemp)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >"$logf" 2>&1 || rc=$?
    if ((rc != 0)) && [[ -z $lib_apt_updated ]]; then
        # The package lists may be missing or older than the archive: fetch them, once a run.
        lib_apt_updated=1
        rc=0
        "${sudo[@]}" apt-get update -qq >>"$logf" 2>&1 || rc=$?
        ((rc != 0)) || "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "$@" >>"$logf" 2>&1 || rc=$?
    fi
    if ((rc != 0)); then
        tail -n 20 "$logf" >&2
        rm -f "$logf"
        die "apt-get could not install $*"
    fi
    rm -f "$logf"
}

want_command() { # CMD [PKG]
    command -v "$1" >/dev/null 2>&1 || lib_want "${2:-$1}"
}

want_package() { # PKG
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || status=
    [[ $status == *" ok installed" ]] || lib_want "$1"
}

lib_want() {
    [[ " ${lib_apt_wanted[*]-} " == *" $1 "* ]] || lib_apt_wanted+=("$1")
}

install_wanted() {
    local pkgs=(${lib_apt_wanted[@]+"${lib_apt_wanted[@]}"})
    lib_apt_wanted=()
    apt_install ${pkgs[@]+"${pkgs[@]}"}
}

# --- ports -----------------------------------------------------------------------------------

lib_used_ports=" "

free_port() { # VAR
    local p _
    for _ in {1..500}; do
        p=$((20000 + RANDOM % 40000))
        [[ $lib_used_ports != *" $p "* ]] || continue
        # Anything on the port (a listener, or either end of a connection), where ss is there.
        if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]]; then
            continue
        fi
        # And nothing answers there (a listener on 0.0.0.0 or 127.0.0.1 would).
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue
        fi
        lib_used_ports+="$p "
        printf -v "$1" %s "$p"
        return 0
    done
    die "no free TCP port found on 127.0.0.1"
}

# --- processes and cleanup -------------------------------------------------------------------

lib_pids=()
lib_dirs=()
lib_keep=
lib_keep_on_error=
lib_kept_fmt='work directory kept: %s\n'
lib_exit_hook=

track_pid() { # PID
    lib_pids+=("$1")
}

forget_pid() { # PID
    local pid kept=()
    for pid in ${lib_pids[@]+"${lib_pids[@]}"}; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    lib_pids=(${kept[@]+"${kept[@]}"})
}

stop_pids() { # PID...
    local pid i
    for pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid; do
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        forget_pid "$pid"
    done
}

stop_tracked() {
    stop_pids ${lib_pids[@]+"${lib_pids[@]}"}
}

temp_dir() { # VAR TEMPLATE
    local dir
    mkdir -p "$(dirname -- "$2")" || die "cannot make $(dirname -- "$2")"
    dir=$(mktemp -d "$2") || die "cannot make a directory $2"
    lib_dirs+=("$dir")
    printf -v "$1" %s "$dir"
}

lib_cleanup() {
    local rc=$? dir pid jobs_left=()
    trap - EXIT INT TERM
    if [[ -n $lib_exit_hook ]]; then "$lib_exit_hook" "$rc" || true; fi
    stop_tracked
    # Children nobody tracked (a background job of the script) go too.
    for pid in $(jobs -p); do jobs_left+=("$pid"); done
    stop_pids ${jobs_left[@]+"${jobs_left[@]}"}
    for dir in ${lib_dirs[@]+"${lib_dirs[@]}"}; do
        if [[ -n $lib_keep ]] || { ((rc != 0)) && [[ -n $lib_keep_on_error ]]; }; then
            # shellcheck disable=SC2059 # the format is the script's
            printf "$lib_kept_fmt" "$dir"
        else
            rm -rf -- "$dir"
        fi
    done
    exit "$rc"
}

cleanup_on_exit() {
    trap lib_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- numbers ---------------------------------------------------------------------------------

secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-3}" 'BEGIN { printf "%.*f", p, (b > 0 ? a / b : 0) }'; }

# --- the gateway -----------------------------------------------------------------------------

gateway_user_add() { # BIN DATA USER PASSWORD LOG
    printf '%s\n' "$4" | "$1" user add "$3" --data "$2" >"$5" 2>&1 ||
        { cat "$5" >&2; die "microcloud user add $3 failed"; }
}

gateway_start() { # BIN DATA LISTEN LOG [ARG...]
    local bin=$1 data=$2 listen=$3 logf=$4 i line=
    shift 4
    "$bin" gateway --data "$data" --listen "$listen" "$@" </dev/null >>"$logf" 2>&1 &
    GW_PID=$!
    track_pid "$GW_PID"
    GW_URL=
    for ((i = 0; ; i++)); do
        if ! kill -0 "$GW_PID" 2>/dev/null; then
            tail -n 20 "$logf" >&2
            die "the gateway on $data exited at start (log: $logf)"
        fi
        line=$(cat "$data/gateway.lock" 2>/dev/null) || line=
        if [[ $line == "$GW_PID "* ]]; then
            GW_URL=${line#* }
            GW_URL=${GW_URL%% *}   # a third word is the HTTPS address, when served
            GW_URL=${GW_URL%/}
            GW_URL=${GW_URL/\/\/0.0.0.0:/\/\/127.0.0.1:}
            # Any HTTP answer will do (curl fails only when nothing answers).
            curl -s -o /dev/null --max-time 2 "$GW_URL/" && break
        fi
        if ((i >= 300)); then
            tail -n 20 "$logf" >&2
            die "the gateway on $data did not answer within 30 s (lock file: '$line')"
        fi
        sleep 0.1
    done
    [[ $GW_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || die "unexpected URL in $data/gateway.lock: '$line'"
    # shellcheck disable=SC2034 # for the caller
    GW_PORT=${GW_URL##*:}
}

# --- Garage ----------------------------------------------------------------------------------

garage_find() {
    GARAGE=${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
    [[ -x $GARAGE ]] || die "no garage binary (GARAGE_BIN, PATH, ~/.cargo/bin): run ci/install-deps"
}

garage_cli() { # ARG...
    RUST_LOG=garage=warn timeout 60 "$GARAGE" -c "$GARAGE_CONF" "$@"
}

garage_start() { # DIR [KEY [BUCKET...]]
    local dir=$1 key=${2:-microcloud} rpc_port secret node i code out bucket
    shift
    (($# == 0)) || shift
    [[ -n ${GARAGE:-} ]] || garage_find
    mkdir -p "$dir/meta" "$dir/data"
    GARAGE_CONF=$dir/garage.toml
    free_port S3_PORT
    free_port rpc_port
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    (
        umask 077
        cat >"$GARAGE_CONF" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
lmdb_map_size = "4G"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"
EOF
    ) || die "cannot write $GARAGE_CONF"
    RUST_LOG=garage=warn "$GARAGE" -c "$GARAGE_CONF" server </dev/null >"$dir/garage.log" 2>&1 &
    GARAGE_PID=$!
    track_pid "$GARAGE_PID"
    S3_URL=http://127.0.0.1:$S3_PORT
    for ((i = 0; ; i++)); do
        kill -0 "$GARAGE_PID" 2>/dev/null || { tail -n 20 "$dir/garage.log" >&2; die "garage exited at start"; }
        if garage_cli status >/dev/null 2>&1; then
            code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$S3_URL/") || code=000
            [[ $code == 000 ]] || break
        fi
        ((i < 600)) || { tail -n 20 "$dir/garage.log" >&2; die "garage did not answer within 60 s"; }
        sleep 0.1
    done
    node=$(garage_cli node id -q) || die "garage node id failed"
    node=${node%%@*}
    garage_cli layout assign -z dc1 -c 100G "$node" >"$dir/layout.log" 2>&1 ||
        { cat "$dir/layout.log" >&2; die "garage layout assign failed"; }
    garage_cli layout apply --version 1 >>"$dir/layout.log" 2>&1 ||
        { cat "$dir/layout.log" >&2; die "garage layout apply failed"; }
    out=$dir/key.json
    (umask 077 && garage_cli json-api CreateKey "{\"name\":\"$key\"}" >"$out") || die "garage CreateKey failed"
    S3_KEY=$(tr -d '\n' <"$out" | sed -n 's/.*"accessKeyId": *"\([^"]*\)".*/\1/p')
    S3_SECRET=$(tr -d '\n' <"$out" | sed -n 's/.*"secretAccessKey": *"\([^"]*\)".*/\1/p')
    [[ -n $S3_KEY && -n $S3_SECRET ]] || die "cannot read the key garage created"
    for bucket; do garage_bucket "$bucket"; done
}

garage_bucket() { # NAME
    local name=$1 i err=${GARAGE_CONF%/*}/bucket.err
    for ((i = 0; ; i++)); do
        garage_cli bucket create "$name" >/dev/null 2>"$err" && break
        # Right after the layout is applied Garage may refuse writes for a moment.
        ((i < 300)) || { cat "$err" >&2; die "garage bucket create $name failed"; }
        sleep 0.2
    done
    garage_cli bucket allow --read --write --owner "$name" --key "$S3_KEY" >/dev/null 2>"$err" ||
        { cat "$err" >&2; die "garage bucket allow $name failed"; }
}
