"""Legacy HTTP/JSON stand-in for the sidecar's integration tests and the demo.

Runs under Debian bookworm's python3-fastapi (0.92) and python3-uvicorn (0.17) with
/usr/bin/python3; tests start it through tests/test_common/legacy_service.h:

    /usr/bin/python3 tests/legacy/serve_fd.py N tests/legacy app:app

Every endpoint is ``async def``: the whole app runs on uvicorn's single event-loop thread, so the
in-memory state below needs no locks.

Endpoints
---------
Test plumbing (never part of a service's contract):

* ``GET /health``, ``GET /api/{service}/health`` ->
  ``{"status":"ok","service":...,"version":"1.0.0"}`` (``/health`` names
  ``$LEGACY_SERVICE_NAME``, default ``legacy``); 503 + UNAVAILABLE error body while health is
  forced to fail.
* ``POST /admin/health/ok`` / ``POST /admin/health/fail`` -> flips what the health routes answer.
* ``POST /admin/reset`` -> forgets all state (every service, events, counter, forced health
  failure); an optional body ``{"settings_preset": "spec_example"}`` loads that preset afterwards.
* ``POST /admin/fixtures/settings`` -> replaces the settings state: ``{"preset": "spec_example"}``
  or ``{"schemas": [SettingSchema...], "players": {"<player_id>": {"values": {...},
  "revision": n}}, "schema_revision": n}`` (loaded as given, not validated).
* ``POST /api/{service}/_fixture`` (as the native ports take it, tests/golden/README.md) and
  ``POST /admin/fixtures/{service}`` -> replace one service's state (settings, auth, payment,
  quest-system) with its fixture document, the same shape as the native port's (see
  services/<port>/README.md and the service modules), and restart its event log. Answers
  ``{"service", "loaded": {...counts}}``.
* ``GET /api/{service}/_events`` -> §0.7 event log ``{"events": [{"event": name, "event_id",
  "occurred_at", ...fields}]}``, in order (event ids are random: volatile).
* ``ANY /echo``, ``ANY /echo/{rest:path}`` and ``ANY /api/{service}/_echo/{rest:path}`` (the
  last one under a service's gateway prefix) -> 200 ``{"method", "path" (raw, undecoded),
  "query" (raw query string), "headers" (lower-cased name -> value; repeats joined with ", "),
  "body" (UTF-8 text)}``.
* ``ANY /status/{code}`` -> that status. 4xx/5xx carry the SERVICES.md §0.4 error body
  ``{"error":{"code":"<CODE>","message":"status <code>","details":{}}}`` with the code from the
  §0.4 table (``UNKNOWN`` for statuses the table does not list); ``?plain=1`` sends text/plain
  ``boom`` instead. 2xx/3xx answer ``{"status": code}`` (no body for 204 and 304).
* ``GET /slow/{ms}`` -> prints ``slow request started ms=<ms>`` on arrival, waits ``ms``
  milliseconds (a fake slow upstream), then 200 ``{"slept_ms": ms}``.
* ``GET /counter`` -> ``{"count": n, "pid": pid}``: requests this process served, not counting
  ``/counter``, the health routes and ``/admin/*`` (so health checkers do not skew load-sharing
  tests).

The services (SERVICES.md §2): settings below in this file; auth (§2.1), payment (§2.3) and
quest-system (§2.15) in auth.py, payment.py and quest_system.py; §0 (errors, headers, field
checks, ids, idempotency, pagination, events) in common.py.

* Every HTTP route of the four services, the §0.4 check order (UNAUTHENTICATED, envelope, fields
  in table order, PERMISSION_DENIED, NOT_FOUND, idempotency, then each rule's preconditions in
  its order), §0.3 principals and ``X-Request-Time``, §0.2 integer/bool parsing, §0.5 derived ids,
  idempotency and page tokens, and the §4-§6 resolutions naming these services.
* tests/integration/legacy_conformance_test replays tests/golden/<service> and
  tests/legacy/cases/<service> (longer sequences recorded from the native ports) against this app.
* Simplified: one process holds the state (no shared store, no replicas), so an idempotency key is
  never "in flight"; settings' ``player_id`` is only checked for being non-empty; a JSON body that
  is not an object, or invalid JSON, is ``field=body`` ``malformed``; event ids are random.
"""

import asyncio
import json
import os
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import auth
import payment
import quest_system
from common import (EVENTS, ApiError, as_int, authorize_player, authorize_write,
                    check_path_field, code_for_status, emit, error_response, invalid,
                    json_object_body, request_ms, request_time, require_principal, to_ms)

VERSION = "1.0.0"
SERVICE_NAME = os.environ.get("LEGACY_SERVICE_NAME", "legacy")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


# ---------------------------------------------------------------------------------------------
# Process state.


class State:
    def __init__(self):
        self.reset()

    def reset(self):
        self.healthy = True
        self.requests = 0
        self.settings = Settings()
        EVENTS.clear()
        for service in (auth, payment, quest_system):
            service.reset()


class Settings:
    def __init__(self):
        self.schemas = {}  # key -> SettingSchema dict
        self.schema_revision = 0
        self.players = {}  # player_id -> {"values": {...}, "revision": n}


STATE = State()

app = FastAPI(title="legacy stand-in", version=VERSION, docs_url=None, redoc_url=None,
              openapi_url=None)


class RequestCounter:
    """Raw ASGI middleware counting served requests (see /counter)."""

    def __init__(self, app):  # Starlette passes the wrapped app by keyword
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and counted(scope["path"]):
            STATE.requests += 1
        await self.app(scope, receive, send)


def counted(path):
    if path in ("/counter", "/health") or path.startswith("/admin/"):
        return False
    return not (path.startswith("/api/") and path.endswith("/health") and path.count("/") == 3)


app.add_middleware(RequestCounter)


@app.exception_handler(ApiError)
async def on_api_error(request, exc):
    return error_response(exc.status, exc.code, exc.message, exc.details)


@app.exception_handler(StarletteHTTPException)
async def on_http_error(request, exc):
    return error_response(exc.status_code, code_for_status(exc.status_code), str(exc.detail))


@app.exception_handler(Exception)
async def on_bug(request, exc):
    # A bug in a stand-in still answers in the §0.4 shape, so a diff names it as INTERNAL.
    return error_response(500, "INTERNAL", f"{type(exc).__name__}: {exc}")


@app.exception_handler(RequestValidationError)
async def on_validation_error(request, exc):
    errors = exc.errors()
    field = str(errors[0]["loc"][-1]) if errors and errors[0].get("loc") else "request"
    return error_response(400, "INVALID_ARGUMENT", f"invalid {field}",
                          {"field": field, "reason": "type"})


# ---------------------------------------------------------------------------------------------
# Test plumbing.


def health_response(service):
    if not STATE.healthy:
        return error_response(503, "UNAVAILABLE", "health check forced to fail")
    return {"status": "ok", "service": service, "version": VERSION}


@app.get("/health")
async def health():
    return health_response(SERVICE_NAME)


@app.get("/api/{service}/health")
async def service_health(service: str):
    return health_response(service)


@app.post("/admin/health/{state}")
async def set_health(state: str):
    if state not in ("ok", "fail"):
        raise invalid("state", "unknown_value")
    STATE.healthy = state == "ok"
    return {"healthy": STATE.healthy}


@app.post("/admin/reset")
async def admin_reset(request: Request):
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise invalid("body", "malformed")
    STATE.reset()
    if isinstance(body, dict) and body.get("settings_preset"):
        load_settings_fixture({"preset": body["settings_preset"]})
    return {"reset": True}


@app.post("/admin/fixtures/settings")
async def admin_settings_fixture(request: Request):
    body = await json_object_body(request)
    load_settings_fixture(body)
    return {"schemas": len(STATE.settings.schemas), "players": len(STATE.settings.players),
            "schema_revision": STATE.settings.schema_revision}


# Every service's Given: its state document, accepted where the native ports take it
# (POST /api/<service>/_fixture, tests/golden/README.md) and under /admin/fixtures/<service>
# (settings keeps its own route above, with its summary response). The service's event log
# restarts with its state.
FIXTURE_LOADERS = {
    "settings": lambda doc, now: load_settings_fixture(doc),
    "auth": auth.load_fixture,
    "payment": payment.load_fixture,
    "quest-system": quest_system.load_fixture,
}


@app.post("/admin/fixtures/{service}")
@app.post("/api/{service}/_fixture")
async def service_fixture(service: str, request: Request):
    loader = FIXTURE_LOADERS.get(service)
    if loader is None:
        raise ApiError("NOT_FOUND", f"no stand-in for service {service}", {"field": "service"})
    now = request_ms(request)
    body = await json_object_body(request)
    summary = loader(body, now)
    EVENTS.pop(service, None)
    return {"service": service, "loaded": summary or {}}


@app.get("/api/{service}/_events")
async def service_events(service: str):
    """§0.7: the events a service emitted so far, in order."""
    return {"events": EVENTS.get(service, [])}


@app.api_route("/echo", methods=ALL_METHODS)
@app.api_route("/echo/{rest:path}", methods=ALL_METHODS)
@app.api_route("/api/{service}/_echo/{rest:path}", methods=ALL_METHODS)
async def echo(request: Request):
    headers = {}
    for name, value in request.headers.raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    body = await request.body()
    return {
        "method": request.method,
        "path": raw_path.decode("latin-1"),
        "query": request.scope.get("query_string", b"").decode("latin-1"),
        "headers": headers,
        "body": body.decode("utf-8", errors="replace"),
    }


@app.api_route("/status/{code}", methods=ALL_METHODS)
async def status(code: int, request: Request):
    if code < 200 or code > 599:
        raise invalid("code", "out_of_range")
    if request.query_params.get("plain") in ("1", "true"):
        return PlainTextResponse("boom", status_code=code)
    if code in (204, 304):
        return Response(status_code=code)
    if code < 400:
        return JSONResponse(status_code=code, content={"status": code})
    return error_response(code, code_for_status(code), f"status {code}")


@app.get("/slow/{ms}")
async def slow(ms: int):
    if ms < 0 or ms > 600000:
        raise invalid("ms", "out_of_range")
    # Tests wait for this line (an event, not a poll) to know a slow request has arrived.
    print(f"slow request started ms={ms}", flush=True)
    # The point of this route: a fake slow upstream, the only place that waits on a timer.
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


# Streaming (issue 14): GET /stream/{name}?count=N[&gate=1][&size=B][&sse=1] answers a StreamingResponse
# (chunked) of N chunks "chunk-<i> " (padded to B bytes). With gate=1 it yields the first chunk, then
# waits for POST /admin/stream/{name}/release before producing the rest, so a test can assert by
# events that chunk 1 reached the client before the last one was produced. GET
# /admin/stream/{name} reports how many chunks were produced and whether the client went away.
STREAMS = {}


def stream_state(name):
    return STREAMS.setdefault(name, {"produced": 0, "done": False, "cancelled": False,
                                     "gate": asyncio.Event()})


@app.get("/stream/{name}")
async def stream(name: str, count: int = 3, gate: int = 0, size: int = 0, sse: int = 0):
    state = stream_state(name)

    def chunk(i):
        text = f"chunk-{i} "
        if size > len(text):
            text = text + "." * (size - len(text))
        return f"data: {text}\n\n" if sse else text

    async def produce():
        try:
            for i in range(1, count + 1):
                if i == 2 and gate:
                    await state["gate"].wait()
                state["produced"] = i
                yield chunk(i)
            state["done"] = True
        except (asyncio.CancelledError, GeneratorExit):
            state["cancelled"] = True
            print(f"stream {name} cancelled after {state['produced']}", flush=True)
            raise

    media = "text/event-stream" if sse else "text/plain"
    return StreamingResponse(produce(), media_type=media)


@app.post("/admin/stream/{name}/release")
async def stream_release(name: str):
    stream_state(name)["gate"].set()
    return {"released": name}


@app.get("/admin/stream/{name}")
async def stream_report(name: str):
    state = stream_state(name)
    return {"produced": state["produced"], "done": state["done"], "cancelled": state["cancelled"]}


@app.get("/counter")
async def counter():
    return {"count": STATE.requests, "pid": os.getpid()}


def is_scalar(value):
    return isinstance(value, (str, bool, int, float))


# ---------------------------------------------------------------------------------------------
# settings (SERVICES.md §2.2).

SETTING_KEY_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}")
PLATFORMS = ("pc", "console", "mobile")
SETTING_TYPES = ("int", "bool", "string", "enum")
MAX_SETTING_KEYS = 256
SCHEMA_FIELDS = ("key", "type", "default", "min", "max", "max_len", "allowed", "platform_defaults")


def check_setting_value(schema, value, field):
    """Rule 2: returns the stored form of `value` or raises INVALID_ARGUMENT on `field`."""
    kind = schema["type"]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(field, "type")
        if isinstance(value, float) and not value.is_integer():
            raise invalid(field, "type")
        number = int(value)
        if number < schema["min"] or number > schema["max"]:
            raise invalid(field, "out_of_range")
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise invalid(field, "type")
        return value
    if not isinstance(value, str):
        raise invalid(field, "type")
    if kind == "string":
        if len(value) > schema["max_len"]:
            raise invalid(field, "too_long")
        return value
    if value not in schema["allowed"]:
        raise invalid(field, "unknown_value")
    return value


def setting_valid(schema, value):
    try:
        check_setting_value(schema, value, "value")
        return True
    except ApiError:
        return False


def layered_default(schema, platform):
    if platform in schema["platform_defaults"]:
        return schema["platform_defaults"][platform], "platform"
    return schema["default"], "default"


def parse_platform(value):
    if value is None or value == "":
        return "pc"
    if not isinstance(value, str):
        raise invalid("platform", "type")
    if value not in PLATFORMS:
        raise invalid("platform", "unknown_value")
    return value


def player_record(player_id):
    return STATE.settings.players.get(player_id, {"values": {}, "revision": 0})


def sorted_map(mapping):
    return {key: mapping[key] for key in sorted(mapping)}


@app.put("/api/settings/schema/{key}")
async def settings_put_schema(key: str, request: Request):
    principal = require_principal(request)
    now = request_time(request)
    body = await json_object_body(request)
    check_path_field(body, "key", key)

    # Own syntax, in table order.
    if len(key) > 64:
        raise invalid("key", "too_long")
    if not SETTING_KEY_RE.fullmatch(key):
        raise invalid("key", "pattern")
    kind = body.get("type", "")
    if kind == "":
        raise invalid("type", "required")
    if not isinstance(kind, str):
        raise invalid("type", "type")
    if kind not in SETTING_TYPES:
        raise invalid("type", "unknown_value")
    if "default" not in body:
        raise invalid("default", "required")
    default = body["default"]
    if not is_scalar(default):
        raise invalid("default", "type")
    minimum = as_int(body.get("min"), "min")
    maximum = as_int(body.get("max"), "max")
    max_len = as_int(body.get("max_len"), "max_len", -(2**31), 2**31 - 1)
    allowed = body.get("allowed", [])
    if not isinstance(allowed, list):
        raise invalid("allowed", "type")
    for index, entry in enumerate(allowed):
        if not isinstance(entry, str):
            raise invalid(f"allowed[{index}]", "type")
    platform_defaults = body.get("platform_defaults", {})
    if not isinstance(platform_defaults, dict):
        raise invalid("platform_defaults", "type")
    for platform in sorted(platform_defaults):
        if platform not in PLATFORMS:
            raise invalid(f"platform_defaults.{platform}", "unknown_value")
        if not is_scalar(platform_defaults[platform]):
            raise invalid(f"platform_defaults.{platform}", "type")

    # The type's constraints; fields of other types are stored as zero values.
    schema = {"key": key, "type": kind, "default": None, "min": 0, "max": 0, "max_len": 0,
              "allowed": [], "platform_defaults": {}}
    if kind == "int":
        if minimum > maximum:
            raise invalid("max", "out_of_range")
        schema["min"], schema["max"] = minimum, maximum
    elif kind == "string":
        if max_len < 1 or max_len > 1024:
            raise invalid("max_len", "out_of_range")
        schema["max_len"] = max_len
    elif kind == "enum":
        if not allowed:
            raise invalid("allowed", "required")
        if len(allowed) > 32:
            raise invalid("allowed", "too_long")
        seen = set()
        for index, entry in enumerate(allowed):
            if entry == "":
                raise invalid(f"allowed[{index}]", "too_short")
            if entry in seen:
                raise invalid(f"allowed[{index}]", "malformed")
            seen.add(entry)
        schema["allowed"] = list(allowed)
    schema["default"] = check_setting_value(schema, default, "default")
    for platform in sorted(platform_defaults):
        schema["platform_defaults"][platform] = check_setting_value(
            schema, platform_defaults[platform], f"platform_defaults.{platform}")

    authorize_write(principal)
    settings = STATE.settings
    if key not in settings.schemas and len(settings.schemas) >= MAX_SETTING_KEYS:
        raise ApiError("RESOURCE_EXHAUSTED", "too many setting keys",
                       {"reason": "limit_exceeded", "limit": MAX_SETTING_KEYS})
    settings.schemas[key] = schema
    settings.schema_revision += 1
    emit("settings", "schema_changed", to_ms(now), key=key,
         schema_revision=settings.schema_revision)
    return {"key": key, "schema_revision": settings.schema_revision}


@app.get("/api/settings/schema")
async def settings_get_schema(request: Request):
    require_principal(request)
    request_time(request)
    settings = STATE.settings
    entries = [schema_view(settings.schemas[key]) for key in sorted(settings.schemas)]
    return {"entries": entries, "schema_revision": settings.schema_revision}


def schema_view(schema):
    """A SettingSchema with its fields in table order."""
    view = {name: schema[name] for name in SCHEMA_FIELDS}
    view["platform_defaults"] = sorted_map(view["platform_defaults"])
    return view


@app.get("/api/settings/players/{player_id}")
async def settings_get_effective(player_id: str, request: Request):
    principal = require_principal(request)
    request_time(request)
    platform = parse_platform(request.query_params.get("platform"))
    authorize_player(principal, player_id)
    record = player_record(player_id)
    values, sources = {}, {}
    for key in sorted(STATE.settings.schemas):
        schema = STATE.settings.schemas[key]
        stored = record["values"].get(key)
        if key in record["values"] and setting_valid(schema, stored):
            values[key], sources[key] = stored, "player"
        else:
            values[key], sources[key] = layered_default(schema, platform)
    return {"player_id": player_id, "platform": platform, "values": values, "sources": sources,
            "revision": record["revision"]}


def check_revision(record, expected):
    if expected != record["revision"]:
        raise ApiError("FAILED_PRECONDITION", "revision mismatch",
                       {"reason": "revision_mismatch", "current_revision": record["revision"]})


def commit_player(player_id, record, now, keys):
    record = {"values": sorted_map(record["values"]), "revision": record["revision"] + 1}
    STATE.settings.players[player_id] = record
    emit("settings", "player_settings_changed", to_ms(now), player_id=player_id,
         revision=record["revision"], keys=sorted(keys))
    return {"revision": record["revision"], "stored": record["values"]}


@app.post("/api/settings/players/{player_id}/values")
async def settings_set_values(player_id: str, request: Request):
    principal = require_principal(request)
    now = request_time(request)
    body = await json_object_body(request)
    check_path_field(body, "player_id", player_id)

    platform = parse_platform(body.get("platform"))
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise invalid("values", "type")
    if not values:
        raise invalid("values", "required")
    if len(values) > 64:
        raise invalid("values", "too_long")
    checked = {}
    for key in sorted(values):
        schema = STATE.settings.schemas.get(key)
        if schema is None:
            raise invalid(f"values.{key}", "unknown_value")
        checked[key] = check_setting_value(schema, values[key], f"values.{key}")
    expected = as_int(body.get("expected_revision"), "expected_revision")

    authorize_player(principal, player_id)
    record = player_record(player_id)
    check_revision(record, expected)
    stored = dict(record["values"])
    for key, value in checked.items():
        default, _ = layered_default(STATE.settings.schemas[key], platform)
        if value == default and type(value) is type(default):
            stored.pop(key, None)
        else:
            stored[key] = value
    return commit_player(player_id, {"values": stored, "revision": record["revision"]}, now,
                         checked.keys())


@app.post("/api/settings/players/{player_id}/reset")
async def settings_reset(player_id: str, request: Request):
    principal = require_principal(request)
    now = request_time(request)
    body = await json_object_body(request)
    check_path_field(body, "player_id", player_id)

    keys = body.get("keys", [])
    if not isinstance(keys, list):
        raise invalid("keys", "type")
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            raise invalid(f"keys[{index}]", "type")
        if key == "":
            raise invalid(f"keys[{index}]", "too_short")
    expected = as_int(body.get("expected_revision"), "expected_revision")

    authorize_player(principal, player_id)
    record = player_record(player_id)
    check_revision(record, expected)
    if keys:
        stored = {k: v for k, v in record["values"].items() if k not in keys}
    else:
        stored = {}
    return commit_player(player_id, {"values": stored, "revision": record["revision"]}, now,
                         keys or list(record["values"]))


# ---------------------------------------------------------------------------------------------
# auth (§2.1), payment (§2.3) and quest-system (§2.15): one module each.

app.include_router(auth.router)
app.include_router(payment.router)
app.include_router(quest_system.router)


# ---------------------------------------------------------------------------------------------
# Settings fixtures.

SPEC_EXAMPLE_PLAYER = "pl_a8694c9d17e9b948"  # mara_vex, SERVICES.md §0.8 "P"


def spec_example_fixture():
    """The "Given" state of SERVICES.md §2.2 examples 1 and 2."""
    base = {"min": 0, "max": 0, "max_len": 0, "allowed": [], "platform_defaults": {}}
    return {
        "schemas": [
            dict(base, key="audio.master_volume", type="int", default=80, min=0, max=100),
            dict(base, key="gameplay.subtitles", type="bool", default=False),
            dict(base, key="graphics.quality", type="enum", default="high",
                 allowed=["low", "medium", "high"], platform_defaults={"mobile": "low"}),
        ],
        "schema_revision": 3,
        "players": {SPEC_EXAMPLE_PLAYER: {"values": {"audio.master_volume": 55}, "revision": 3}},
    }


PRESETS = {"spec_example": spec_example_fixture}


def load_settings_fixture(fixture):
    preset = fixture.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise invalid("preset", "unknown_value")
        fixture = PRESETS[preset]()
    settings = Settings()
    for schema in fixture.get("schemas", []):
        settings.schemas[schema["key"]] = dict(schema)
    settings.schema_revision = int(fixture.get("schema_revision", len(settings.schemas)))
    for player_id, record in fixture.get("players", {}).items():
        settings.players[player_id] = {"values": sorted_map(record.get("values", {})),
                                       "revision": int(record.get("revision", 0))}
    STATE.settings = settings


if os.environ.get("LEGACY_SETTINGS_PRESET"):
    load_settings_fixture({"preset": os.environ["LEGACY_SETTINGS_PRESET"]})
