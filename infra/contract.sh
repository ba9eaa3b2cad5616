#!/usr/bin/env bash
# The API contract run (`make contract`, part of `make test`): starts the local stack on free ports
# with its own emulator, takes an administrator token, lets schemathesis fuzz every operation of
# openapi.yaml (documented examples, boundary values, random valid and invalid data) and fails on
# any server error (HTTP 5xx) or a request the stack does not answer. The stack is stopped however
# the run ends. Logs: target/contract/ (stack output, schemathesis reports; function logs under
# .local/logs).
#
# Settings (environment): VENV (default .venv), CONTRACT_MAX_EXAMPLES (per operation, default 20),
# CONTRACT_SEED (default fixed, for a reproducible run; `random` for a new one each time),
# CONTRACT_CHECKS (schemathesis checks, default not_a_server_error; e.g.
# not_a_server_error,response_schema_conformance to also hold the replies to the documented schemas).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${VENV:-.venv}
[[ $venv == /* ]] || venv="$root/$venv"
schemathesis="$venv/bin/schemathesis"
python="$venv/bin/python"
stack_bin="$root/target/debug/switchboard-local"
out="$root/target/contract"
max_examples=${CONTRACT_MAX_EXAMPLES:-20}
seed=${CONTRACT_SEED:-20261121}
checks=${CONTRACT_CHECKS:-not_a_server_error}

[[ -x $schemathesis ]] || { echo "contract: $schemathesis is missing (make contract installs it)" >&2; exit 1; }
[[ -x $stack_bin ]] || { echo "contract: $stack_bin is missing (make build)" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"

# Three distinct free loopback ports: the API, the emulator, the (unused) sandbox provider.
read -r api_port emulator_port sandbox_port < <("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
PY
)
base="http://127.0.0.1:$api_port"
secret="contract-$RANDOM$RANDOM-secret"

# Its own process group, so that nothing it started outlives the run.
SWITCHBOARD_ROOT="$root" \
SWITCHBOARD_API_BIND="127.0.0.1:$api_port" \
SWITCHBOARD_EMULATOR_URL="http://127.0.0.1:$emulator_port" \
SWITCHBOARD_SANDBOX_BIND="127.0.0.1:$sandbox_port" \
SWITCHBOARD_ADMIN_CLIENT_ID=contract-admin \
SWITCHBOARD_ADMIN_CLIENT_SECRET="$secret" \
RUST_LOG="${RUST_LOG:-warn}" \
  setsid "$stack_bin" up >"$out/stack.out" 2>"$out/stack.err" </dev/null &
stack_pid=$!

stop_stack() {
  if kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$stack_pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
  # Whatever is left of the group (function processes, the emulator).
  kill -KILL -- "-$stack_pid" 2>/dev/null || true
  wait "$stack_pid" 2>/dev/null || true
}
trap stop_stack EXIT

# Ready once get_token answers; that answer is the token.
token=""
for _ in $(seq 1 240); do
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "contract: the local stack exited while starting:" >&2
    tail -n 30 "$out/stack.err" >&2
    exit 1
  fi
  token=$("$python" - "$base" "$secret" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
base, secret = sys.argv[1], sys.argv[2]
body = json.dumps({"username": "contract-admin", "password": secret}).encode()
req = urllib.request.Request(base + "/openapi/v1.0/get_token", data=body, headers={"Content-Type": "application/json"})
reply = json.load(urllib.request.urlopen(req, timeout=5))
if reply.get("errcode") == 0:
    print(reply["access_token"])
PY
)
  [[ -n $token ]] && break
  sleep 0.5
done
[[ -n $token ]] || { echo "contract: the local stack did not answer get_token within 2 minutes" >&2; tail -n 30 "$out/stack.err" >&2; exit 1; }
# A little data, so that the documented examples (ids 1, extension 1000, session 1) reach real
# objects: an extension, a queue, a General SMS channel routing to the extension, and a session the
# extension started (its message goes nowhere: the channel's provider URL does not resolve).
"$python" - "$base" "$token" >"$out/schemathesis.toml" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
def post(path, body):
    req = urllib.request.Request(f"{base}/openapi/v1.0/{path}?access_token={token}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    reply = json.load(urllib.request.urlopen(req, timeout=30))
    if reply.get("errcode") != 0:
        sys.exit(f"contract: seeding {path} failed: {reply}")
    return reply
post("extension/create", {"number": "1000", "user_password": "Agent1234", "caller_id_name": "Leo Ball"})
post("message_queue/create", {"name": "Support", "assignment_mode": "manual", "members": [{"extension_id": 1}]})
post("message_channel/create", {
    "name": "Contract SMS", "webhook_url_type": "nat", "channel": "general",
    "account_data": [{"k": "api_key", "v": "a2V5"}, {"k": "api_send_url", "v": "https://provider.invalid/send"}],
    "dids": [{"did_number": "+14102161183", "destination_type": "extension", "destination_id": "1",
              "members": [{"type": "extension", "value": "1"}]}]})
post("message/send", {"sender_type": 1, "sender_no": "1000", "channel": "general", "did_number": "+14102161183",
                       "to": "+18003275906", "msg_body": "Hello"})
got = json.load(urllib.request.urlopen(f"{base}/openapi/v1.0/message_channel/get?access_token={token}&id=1", timeout=30))
# The webhook operations are fuzzed against the seeded channel's URL (its token is random).
print(f'[parameters]\n"path.provider" = "general"\n"path.token" = "{got["data"]["webhook_gid"]}"')
PY
echo "contract: local stack up at $base; fuzzing openapi.yaml (max $max_examples examples per operation)"

seed_args=()
[[ $seed == random ]] || seed_args=(--seed "$seed")
# del_token is left out: it would revoke the run's own token (tests/system/contract.rs covers it).
# One worker: hypothesis's source inspection is not thread-safe on CPython 3.11 (a SystemError from
# `ast.parse` with two workers).
set +e
# Run from target/contract: schemathesis and hypothesis keep their caches in the working directory.
cd "$out"
"$schemathesis" --config-file "$out/schemathesis.toml" run "$root/openapi.yaml" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks "$checks" \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  "${seed_args[@]}" \
  --workers 1 \
  --request-timeout 20 \
  --exclude-path /openapi/v1.0/del_token \
  --suppress-health-check all \
  --generation-with-security-parameters false \
  --generation-database none \
  --report junit,ndjson \
  --report-dir "$out" \
  --no-color
status=$?
set -e
if [[ $status -ne 0 ]]; then
  echo "contract: schemathesis found problems (exit $status); stack logs: $out/stack.err, .local/logs/" >&2
  exit "$status"
fi
echo "contract: no server error"
