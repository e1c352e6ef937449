#!/usr/bin/env bash
# Checks docker/compose.yaml and docker/nginx.conf without a container engine.
#
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
#   TEST_REDIS_URL=redis://127.0.0.1:6379 docker/check-lb.sh
#
# 1. The compose file: parsed, interpolated as compose does, checked against the Compose
#    specification (with the `compose-spec` Python package, and `docker compose config`
#    when the compose plugin is installed), and every environment variable the service
#    containers get is one that `permanence serve --help` lists (or RUST_LOG).
# 2. The deployment, on loopback: a fresh database on TEST_DATABASE_URL's server, migrated
#    (the `migrate` service) and seeded (`seed demo`, the `seed` profile); two
#    `permanence serve` replicas in production mode sharing it and the Redis of
#    TEST_REDIS_URL under a key prefix of their own, with the compose file's environment;
#    and nginx running a copy of docker/nginx.conf in which only the listen address and the
#    two upstream servers are replaced by loopback ones. Readiness is probed with the
#    compose file's own healthcheck command.
# 3. Through nginx: queries (POST and GET), a mutation, request ids, the body limit,
#    /metrics not exposed, requests alternating between the replicas, a `notifications`
#    subscription over /graphql/ws receiving the event of a mutation sent through nginx,
#    and SIGTERM to one replica during a stream of requests: none fails, the subscriber is
#    told the server is going away, the replica exits cleanly, and once it is back nginx
#    sends it requests again. With both replicas stopped, nginx answers 503 in the API's
#    error shape.
#
# Needs: nginx, python3 with the `websockets` and `PyYAML` packages (`compose-spec`
# optional), psql, redis-cli, and the permanence binary (PERMANENCE_BIN, else
# target/release/permanence or target/debug/permanence). Everything it starts is stopped,
# and the database and Redis keys it made are removed, when it exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
compose="$root/docker/compose.yaml"
nginx_conf="$root/docker/nginx.conf"

fail() {
    echo "check-lb: $*" >&2
    exit 1
}

: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL URL that may CREATE DATABASE}"
: "${TEST_REDIS_URL:?set TEST_REDIS_URL to a Redis URL}"
for tool in nginx python3 psql redis-cli; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
python3 -c 'import websockets, yaml' 2>/dev/null ||
    fail "python3 needs the websockets and PyYAML packages (pip install websockets pyyaml)"

bin="${PERMANENCE_BIN:-}"
if [[ -z "$bin" ]]; then
    for candidate in "$root/target/release/permanence" "$root/target/debug/permanence"; do
        if [[ -x "$candidate" ]]; then
            bin="$candidate"
            break
        fi
    done
fi
[[ -n "$bin" && -x "$bin" ]] || fail "no permanence binary: cargo build, or set PERMANENCE_BIN"

work="$(mktemp -d "${TMPDIR:-/tmp}/permanence-check-lb.XXXXXX")"
# A copy, so that a rebuild during the run does not swap the binary under the replicas.
cp "$bin" "$work/permanence"
bin="$work/permanence"

suffix="$(date +%s)$$"
database="permanence_check_lb_$suffix"
prefix="permanence-check-lb-$suffix"
database_url="${TEST_DATABASE_URL%/*}/$database"
nginx_pid=""
declare -A replica_pid=()

cleanup() {
    local status=$?
    set +e
    if [[ -n "$nginx_pid" ]]; then
        kill -QUIT "$nginx_pid" 2>/dev/null
        wait "$nginx_pid" 2>/dev/null
    fi
    for name in "${!replica_pid[@]}"; do
        kill -TERM "${replica_pid[$name]}" 2>/dev/null
        wait "${replica_pid[$name]}" 2>/dev/null
    done
    psql -q "$TEST_DATABASE_URL" -c "drop database if exists $database with (force)" >/dev/null 2>&1
    redis-cli -u "$TEST_REDIS_URL" --scan --pattern "$prefix*" 2>/dev/null |
        xargs -r redis-cli -u "$TEST_REDIS_URL" del >/dev/null 2>&1
    if [[ $status -ne 0 ]]; then
        for log in "$work"/*.log; do
            [[ -f "$log" ]] || continue
            echo "--- last lines of $(basename "$log")" >&2
            tail -n 15 "$log" >&2
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 1. the compose file ------------------------------------------------------------------
echo "== compose file"
"$bin" serve --help >"$work/serve-help.txt"
COMPOSE="$compose" SERVE_HELP="$work/serve-help.txt" python3 - <<'PY'
import os, re, sys
import yaml

with open(os.environ["COMPOSE"]) as f:
    spec = yaml.safe_load(f)

test_env = {"POSTGRES_PASSWORD": "check0password", "JWT_SECRET": "c" * 40}
required = set()


def interpolate(text):
    def one(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = test_env.get(name)
        if op == ":?":
            required.add(name)
            return value
        if op == ":-":
            return value or arg
        return value or ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, text)


def walk(node):
    if isinstance(node, dict):
        return {k: walk(v) for k, v in node.items()}
    if isinstance(node, list):
        return [walk(v) for v in node]
    return interpolate(node) if isinstance(node, str) else node


resolved = walk(spec)
services = resolved["services"]
expected = {"postgres", "redis", "migrate", "api-1", "api-2", "lb"}
missing = expected - services.keys()
assert not missing, f"services missing: {missing}"
assert required == {"POSTGRES_PASSWORD", "JWT_SECRET"}, f"required variables: {required}"

try:
    import compose_spec
except ImportError:
    print("compose-spec package not installed: specification check skipped")
else:
    compose_spec.PyCompose.from_yaml(yaml.safe_dump(resolved))
    print("valid under the Compose specification (compose-spec)")

# Every variable given to a container of the service image is one the service reads.
with open(os.environ["SERVE_HELP"]) as f:
    known = set(re.findall(r"\[env: ([A-Z0-9_]+)", f.read())) | {"RUST_LOG"}
image = services["api-1"]["image"]
for name, service in services.items():
    if service.get("image") != image:
        continue
    unknown = set(service.get("environment", {})) - known
    assert not unknown, f"{name}: variables `permanence serve` does not read: {unknown}"
api = services["api-1"]
assert api == services["api-2"], "api-1 and api-2 differ"
assert api["environment"]["PERMANENCE_ENV"] == "production"
assert services["migrate"]["command"] == ["migrate"]
for replica in ("api-1", "api-2"):
    conditions = {k: v["condition"] for k, v in services[replica]["depends_on"].items()}
    assert conditions == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
    }, conditions
print(f"environment variables known to `permanence serve`: {sorted(api['environment'])}")
PY
if docker compose version >/dev/null 2>&1; then
    POSTGRES_PASSWORD=check0password JWT_SECRET="$(printf 'c%.0s' {1..40})" \
        docker compose -f "$compose" --profile seed config --quiet
    echo "docker compose config: valid"
else
    echo "docker compose plugin not installed: its check skipped"
fi

# --- 2. the deployment on loopback ---------------------------------------------------------
echo "== deployment on loopback"
jwt_secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
# The replicas' environment: the compose file's, with loopback addresses.
export DATABASE_URL="$database_url" REDIS_URL="$TEST_REDIS_URL" REDIS_KEY_PREFIX="$prefix"
export JWT_SECRET="$jwt_secret" JWT_ISSUER=permanence JWT_AUDIENCE=permanence
export PERMANENCE_ENV=production RUST_LOG="${RUST_LOG:-info}"

psql -q "$TEST_DATABASE_URL" -c "create database $database" >/dev/null
"$bin" migrate >"$work/migrate.log" 2>&1
"$bin" seed demo >"$work/seed.log" 2>&1
echo "database $database migrated and seeded with the demo data"

# The replicas' healthcheck, as the compose file gives it, for a port.
healthcheck="$(COMPOSE="$compose" python3 -c '
import os, yaml
test = yaml.safe_load(open(os.environ["COMPOSE"]))["services"]["api-1"]["healthcheck"]["test"]
assert test[:3] == ["CMD", "bash", "-c"], test
print(test[3])')"
[[ "$healthcheck" == *"/dev/tcp/127.0.0.1/8080"* ]] || fail "unexpected healthcheck: $healthcheck"

start_replica() { # name port metrics-port
    PERMANENCE_BIND="127.0.0.1:$2" PERMANENCE_METRICS_BIND="127.0.0.1:$3" \
        "$bin" serve >>"$work/$1.log" 2>&1 &
    replica_pid[$1]=$!
    local probe="${healthcheck//\/8080/\/$2}"
    for _ in $(seq 1 120); do
        if bash -c "$probe" 2>/dev/null; then
            return 0
        fi
        kill -0 "${replica_pid[$1]}" 2>/dev/null || fail "replica $1 exited"
        sleep 0.5
    done
    fail "replica $1 not ready after 60 s"
}

port_a="$(free_port)"
port_b="$(free_port)"
metrics_port_a="$(free_port)"
metrics_port_b="$(free_port)"
start_replica a "$port_a" "$metrics_port_a"
start_replica b "$port_b" "$metrics_port_b"
echo "replicas ready (compose healthcheck on /readyz): a on $port_a, b on $port_b"

lb_port="$(free_port)"
sed -e "s/^\([[:space:]]*\)listen 80;/\1listen 127.0.0.1:$lb_port;/" \
    -e "s/server api-1:8080 resolve /server 127.0.0.1:$port_a /" \
    -e "s/server api-2:8080 resolve /server 127.0.0.1:$port_b /" \
    "$nginx_conf" >"$work/nginx.conf"
changed="$(diff "$nginx_conf" "$work/nginx.conf" | grep -c '^>' || true)"
[[ "$changed" == 3 ]] || fail "expected to replace 3 lines of nginx.conf, replaced $changed"
nginx_args=(-c "$work/nginx.conf" -e "$work/nginx-error.log" -g "daemon off; pid $work/nginx.pid;")
nginx -t -q "${nginx_args[@]}"
nginx "${nginx_args[@]}" >"$work/nginx.log" 2>"$work/nginx-stderr.log" &
nginx_pid=$!
for _ in $(seq 1 50); do
    if bash -c "exec 3<>/dev/tcp/127.0.0.1/$lb_port" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
echo "nginx on 127.0.0.1:$lb_port in front of both"

token() { # subject authority role
    PERMANENCE_ENV=development "$bin" token --sub "$1" --consortium demo --authority "$2" --role "$3"
}
CHECK_FAMILY_FINDER="$(token demo-ff-alder alder FAMILY_FINDER)"
# Four more subjects, one per client of the stream of requests (each under its rate limit).
CHECK_STREAM_TOKENS="$(for i in 1 2 3 4; do token "check-lb-client-$i" alder FAMILY_FINDER; done)"
export CHECK_FAMILY_FINDER CHECK_STREAM_TOKENS
export CHECK_LB="http://127.0.0.1:$lb_port"
export CHECK_A="http://127.0.0.1:$port_a" CHECK_B="http://127.0.0.1:$port_b"
export CHECK_A_METRICS="http://127.0.0.1:$metrics_port_a" CHECK_B_METRICS="http://127.0.0.1:$metrics_port_b"
export CHECK_NGINX_LOG="$work/nginx.log" CHECK_STATE="$work/state.json"

# --- 3. through nginx ----------------------------------------------------------------------
cat >"$work/check.py" <<'PY'
import asyncio, http.client, json, os, re, signal, sys, threading, time, urllib.parse
from websockets.asyncio.client import connect

LB, A, B = os.environ["CHECK_LB"], os.environ["CHECK_A"], os.environ["CHECK_B"]
FAMILY_FINDER = os.environ["CHECK_FAMILY_FINDER"]
NGINX_LOG = os.environ["CHECK_NGINX_LOG"]
STATE = os.environ["CHECK_STATE"]
NAMES = {urllib.parse.urlsplit(A).netloc: "a", urllib.parse.urlsplit(B).netloc: "b"}
# Each replica's /metrics listener (PERMANENCE_METRICS_BIND).
METRICS = {A: os.environ["CHECK_A_METRICS"], B: os.environ["CHECK_B_METRICS"]}
passed = 0


def ok(what):
    global passed
    passed += 1
    print(f"  ok  {what}", flush=True)


def request(method, path, body=None, headers=None, base=LB, timeout=30):
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def declared_only(length, headers, base=LB):
    """Sends only the headers of a POST /graphql declaring a body of `length` bytes."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST", "/graphql")
        for name, value in {**headers, "Content-Length": str(length)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def graphql(query, variables=None, token=FAMILY_FINDER, request_id=None, base=LB):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if request_id:
        headers["X-Request-Id"] = request_id
    body = json.dumps({"query": query, "variables": variables or {}})
    status, headers, raw = request("POST", "/graphql", body, headers, base)
    return status, headers, json.loads(raw)


def data(query, variables=None, **kw):
    status, _, body = graphql(query, variables, **kw)
    assert status == 200 and "errors" not in body, (status, body)
    return body["data"]


def served_by(request_id, wait=3.0):
    """The replica ("a" or "b") nginx passed the request with this id to, from its log."""
    deadline = time.time() + wait
    while time.time() < deadline:
        with open(NGINX_LOG) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                if entry["request_id"] == request_id:
                    # The last address tried is the one that answered.
                    return NAMES.get(entry["upstream"].split(", ")[-1], entry["upstream"])
        time.sleep(0.1)
    raise AssertionError(f"{request_id} not in the nginx log")


def metric(base, name):
    """A replica's metric, from its metrics listener (0 when absent, or when it is down)."""
    try:
        status, _, raw = request("GET", "/metrics", base=METRICS[base])
    except OSError:
        return 0.0
    assert status == 200, status
    for line in raw.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


VIEWER = "{ viewer { subject } }"
NOTIFICATIONS = "subscription { notifications { id kind link { id state } } }"
WS_URL = LB.replace("http://", "ws://") + "/graphql/ws"


async def subscriber(request_id):
    ws = await connect(WS_URL, subprotocols=["graphql-transport-ws"],
                       additional_headers={"X-Request-Id": request_id})
    assert ws.subprotocol == "graphql-transport-ws", ws.subprotocol
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {FAMILY_FINDER}"}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": NOTIFICATIONS}}))
    return ws


async def next_event(ws, link_id, limit=10.0):
    deadline = time.time() + limit
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.time())))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next" and message["id"] == "1", message
        event = message["payload"]["data"]["notifications"]
        if event["link"] and event["link"]["id"] == link_id:
            return event


async def holder_of_subscription():
    for _ in range(100):
        open_a = metric(A, "permanence_subscriptions_open")
        open_b = metric(B, "permanence_subscriptions_open")
        if open_a + open_b >= 1:
            return "a" if open_a >= 1 else "b"
        await asyncio.sleep(0.1)
    raise AssertionError("no replica reports the subscription open")


def find_pair():
    """A waiting child of alder (not in a sibling group) and a household it may be linked with."""
    children = data("""query { children(filter: { statuses: [WAITING], inSiblingGroup: false }, first: 50)
        { edges { node { id } } } }""")["children"]["edges"]
    for edge in children:
        child = edge["node"]["id"]
        found = data("""query($c: ID!) { matchSuggestions(childId: $c, first: 5) { suggestions {
            household { ... on Household { id } ... on HouseholdProfile { id } } } } }""",
                     {"c": child})["matchSuggestions"]["suggestions"]
        if found:
            return child, found[0]["household"]["id"]
    raise AssertionError("no waiting child with a match suggestion in the demo data")


PROPOSE = """mutation($input: ProposeLinkInput!) { proposeLink(input: $input) { link { id state version } } }"""
WITHDRAW = """mutation($input: EndLinkInput!) { withdrawLink(input: $input) { link { id state version } } }"""


def alternating(prefix, count):
    served = []
    for i in range(count):
        rid = f"{prefix}-{i}"
        assert data(VIEWER, request_id=rid)["viewer"]["subject"] == "demo-ff-alder"
        served.append(served_by(rid))
    return served


async def phase_one():
    # Routes.
    status, _, body = request("GET", "/healthz")
    assert (status, body) == (200, b"ok"), (status, body)
    status, _, body = request("GET", "/readyz")
    assert (status, body) == (200, b"ready"), (status, body)
    ok("GET /healthz and /readyz through nginx")
    for path in ("/metrics", "/export/..%2Fmetrics", "/graphql/../metrics", "/nothing-here"):
        status, _, body = request("GET", path)
        assert status == 404 and b"permanence_" not in body, (path, status)
    for base in (A, B):
        status, _, body = request("GET", "/metrics", base=base)
        assert status == 404 and b"permanence_" not in body, (base, status)
    assert metric(A, "permanence_audit_queue_depth") >= 0
    ok("/metrics not served through nginx nor on the API port (404), served by each replica's metrics listener")

    # Queries, a mutation over GET, request ids.
    status, headers, body = graphql(VIEWER, request_id="check-lb-query")
    assert status == 200 and body["data"]["viewer"]["subject"] == "demo-ff-alder", body
    assert headers["x-request-id"] == "check-lb-query", headers
    ok(f"POST query; X-Request-Id passed through and returned (served by {served_by('check-lb-query')})")
    query = urllib.parse.quote(VIEWER)
    status, _, raw = request("GET", f"/graphql?query={query}",
                             headers={"Authorization": f"Bearer {FAMILY_FINDER}"})
    assert status == 200 and json.loads(raw)["data"]["viewer"]["subject"] == "demo-ff-alder"
    ok("GET /graphql query")
    mutation = urllib.parse.quote('mutation { revokeSessions(input: { subject: "x" }) { subject } }')
    status, headers, _ = request("GET", f"/graphql?query={mutation}",
                                 headers={"Authorization": f"Bearer {FAMILY_FINDER}"})
    assert status == 405, status
    ok("GET /graphql mutation refused by the service (405) and passed back")
    status, headers, _ = graphql(VIEWER, request_id="not a sane id!")
    generated = headers["x-request-id"]
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", generated), headers
    served_by(generated)
    ok("an insane X-Request-Id is replaced by nginx's own, which the replica uses")

    # The body limit: the same as the service's, and the same answer.
    limit = 1048576
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {FAMILY_FINDER}"}
    fits = json.dumps({"query": VIEWER}).encode()
    fits += b" " * (limit - len(fits))
    status, _, raw = request("POST", "/graphql", fits, headers)
    assert status == 200 and json.loads(raw)["data"]["viewer"], (status, raw[:200])
    status, lb_headers, lb_raw = request("POST", "/graphql", fits + b" ", headers)
    assert status == 413, status
    # Both refuse on the declared length alone, before reading the body.
    direct_status, _, direct_raw = declared_only(limit + 1, headers, base=A)
    assert direct_status == 413, direct_status
    assert json.loads(lb_raw) == json.loads(direct_raw), (lb_raw, direct_raw)
    assert lb_headers["content-type"].startswith("application/json")
    ok(f"a body of {limit} bytes passes, one byte more is refused by nginx with the service's own 413 error")

    # Requests alternate between the replicas.
    served = alternating("check-lb-alt", 8)
    assert set(served) == {"a", "b"}, served
    assert all(x != y for x, y in zip(served, served[1:])), served
    ok(f"consecutive requests alternate between the replicas: {' '.join(served)}")

    # A subscription through nginx hears a mutation sent through nginx.
    ws = await subscriber("check-lb-ws")
    holder = await holder_of_subscription()
    ok(f"notifications subscription over /graphql/ws (graphql-transport-ws), held by {holder}")
    child, household = find_pair()
    link = data(PROPOSE, {"input": {"childId": child, "householdId": household}},
                request_id="check-lb-propose")["proposeLink"]["link"]
    proposer = served_by("check-lb-propose")
    event = await next_event(ws, link["id"])
    assert event["kind"] == "LINK_PROPOSED", event
    crossed = "through Redis from the other replica" if proposer != holder else "on the same replica"
    ok(f"proposeLink through nginx (served by {proposer}) delivered LINK_PROPOSED to the subscriber ({crossed})")

    # SIGTERM to the replica holding the subscription, during a stream of requests.
    victim = holder
    survivor = "b" if victim == "a" else "a"
    with open(os.environ[f"CHECK_PID_{victim.upper()}"]) as f:
        victim_pid = int(f.read())
    results, stop = [], threading.Event()

    def stream(client, token):
        i = 0
        while not stop.is_set():
            rid = f"check-lb-stream-{client}-{i}"
            try:
                if i % 2:
                    status, _, raw = request("GET", f"/graphql?query={query}", headers={
                        "Authorization": f"Bearer {token}", "X-Request-Id": rid})
                    body = json.loads(raw)
                else:
                    status, _, body = graphql(VIEWER, token=token, request_id=rid)
                results.append((rid, status == 200 and "errors" not in body, status))
            except Exception as e:  # a failed request is what this looks for
                results.append((rid, False, repr(e)))
            i += 1
            time.sleep(0.02)  # well under the subject's rate limit

    tokens = os.environ["CHECK_STREAM_TOKENS"].split()
    workers = [threading.Thread(target=stream, args=(n, t)) for n, t in enumerate(tokens)]
    for worker in workers:
        worker.start()
    await asyncio.sleep(1.5)
    os.kill(victim_pid, signal.SIGTERM)
    close_code = None
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except Exception:
        close_code = ws.close_code
    await asyncio.sleep(3.0)
    stop.set()
    for worker in workers:
        worker.join()
    failed = [r for r in results if not r[1]]
    assert not failed, failed[:5]
    after = [served_by(rid) for rid, _, _ in results[-10:]]
    assert set(after) == {survivor}, after
    ok(f"{len(results)} queries (POST and GET, {len(workers)} clients) while {victim} stopped on SIGTERM: "
       f"none failed, the last ones all served by {survivor}")
    assert close_code == 1001, close_code
    ok(f"the subscriber on {victim} was closed with 1001 (going away)")

    ws = await subscriber("check-lb-ws-again")
    assert await holder_of_subscription() == survivor
    withdrawn = data(WITHDRAW, {"input": {"id": link["id"], "expectedVersion": link["version"],
                                          "reason": "Check of the load balancer"}},
                     request_id="check-lb-withdraw")["withdrawLink"]["link"]
    assert withdrawn["state"] == "WITHDRAWN", withdrawn
    assert served_by("check-lb-withdraw") == survivor
    event = await next_event(ws, link["id"])
    assert event["kind"] == "LINK_WITHDRAWN", event
    await ws.close()
    ok(f"with {victim} down: a new subscription and a mutation (withdrawLink) through nginx, served by {survivor}, event delivered")

    with open(STATE, "w") as f:
        json.dump({"victim": victim}, f)


async def phase_two():
    with open(STATE) as f:
        victim = json.load(f)["victim"]
    # nginx tries a failed replica again after fail_timeout (10 s).
    deadline = time.time() + 30
    i = 0
    while time.time() < deadline:
        rid = f"check-lb-back-{i}"
        data(VIEWER, request_id=rid)
        if served_by(rid) == victim:
            ok(f"{victim}, started again, receives requests again (after {i + 1} requests)")
            served = alternating("check-lb-alt-again", 4)
            assert set(served) == {"a", "b"}, served
            ok(f"and requests alternate again: {' '.join(served)}")
            return
        i += 1
        await asyncio.sleep(0.5)
    raise AssertionError(f"{victim} received no request within 30 s of being back")


async def phase_three():
    # Both replicas stopped: nginx answers at once, in the API's error shape.
    status, headers, body = graphql(VIEWER, request_id="check-lb-none-left")
    assert status == 503, status
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL", body
    assert headers["retry-after"] == "5" and headers["x-request-id"] == "check-lb-none-left", headers
    ok("with both replicas stopped: 503 with an INTERNAL error, Retry-After and the request id")


asyncio.run({"one": phase_one, "two": phase_two, "three": phase_three}[sys.argv[1]]())
print(f"  {passed} checks passed")
PY

echo "== through nginx"
echo "${replica_pid[a]}" >"$work/pid-a"
echo "${replica_pid[b]}" >"$work/pid-b"
export CHECK_PID_A="$work/pid-a" CHECK_PID_B="$work/pid-b"
python3 "$work/check.py" one

victim="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["victim"])' "$work/state.json")"
set +e
wait "${replica_pid[$victim]}"
code=$?
set -e
unset "replica_pid[$victim]"
[[ $code -eq 0 ]] || fail "replica $victim exited with $code after SIGTERM"
grep -q 'shut down cleanly' "$work/$victim.log" || fail "replica $victim did not log a clean shutdown"
echo "  ok  replica $victim exited 0 after SIGTERM and logged a clean shutdown"

victim_port="$port_a"
victim_metrics_port="$metrics_port_a"
[[ "$victim" == b ]] && victim_port="$port_b" && victim_metrics_port="$metrics_port_b"
start_replica "$victim" "$victim_port" "$victim_metrics_port"
python3 "$work/check.py" two

for name in a b; do
    kill -TERM "${replica_pid[$name]}"
    wait "${replica_pid[$name]}" || fail "replica $name exited with $? after SIGTERM"
    unset "replica_pid[$name]"
done
python3 "$work/check.py" three
echo "check-lb: all checks passed"
