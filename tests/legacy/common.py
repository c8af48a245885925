"""SERVICES.md §0 for the legacy stand-ins: errors, headers, field checks, ids, idempotency, pages.

Every service module (settings in app.py, auth.py, payment.py, quest_system.py) builds on these so
that the §0.4 check order reads the same in each: principal -> envelope -> fields in table order ->
permission -> NOT_FOUND -> idempotency -> the service's own preconditions.

The whole app runs on uvicorn's one event-loop thread and no handler awaits after it has read its
body, so a request runs start to finish without interleaving: plain dicts are the state store, and
an idempotency key can never be seen "in flight".
"""

import base64
import datetime
import hashlib
import json
import re
import uuid
from collections import defaultdict

from fastapi.responses import JSONResponse

# §0.4.
CODE_FOR_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    422: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
STATUS_FOR_CODE = {code: status for status, code in CODE_FOR_STATUS.items()}

MAX_SAFE_INT = 2**53 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1

IDEMPOTENCY_KEY_CLASS = r"[A-Za-z0-9_.:-]"
PLAYER_ID_RE = re.compile(r"pl_[0-9a-f]{16}")


# ---------------------------------------------------------------------------------------------
# Errors in the §0.4 shape.


class ApiError(Exception):
    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        # Detail values are strings (common.v1.Error.details is a string map).
        self.details = {k: str(v) for k, v in (details or {}).items()}

    @property
    def status(self):
        return STATUS_FOR_CODE[self.code]


def invalid(field, reason):
    return ApiError("INVALID_ARGUMENT", f"invalid {field}: {reason}",
                    {"field": field, "reason": reason})


def not_found(field, message):
    return ApiError("NOT_FOUND", message, {"field": field})


def precondition(reason, message, **details):
    return ApiError("FAILED_PRECONDITION", message, {"reason": reason, **details})


def permission_denied(message="principal not allowed"):
    return ApiError("PERMISSION_DENIED", message)


def error_response(status, code, message, details=None):
    return JSONResponse(status_code=status,
                        content={"error": {"code": code, "message": message,
                                           "details": details or {}}})


def code_for_status(status):
    return CODE_FOR_STATUS.get(status, "UNKNOWN")


# ---------------------------------------------------------------------------------------------
# §0.3 headers: principal and *now*.

PRINCIPAL_RE = re.compile(r"^(player|service|admin):(.+)$")
RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):([0-5]\d)(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def principal_of(request):
    """(kind, id) from X-Principal, or None when missing or malformed (R1)."""
    match = PRINCIPAL_RE.match(request.headers.get("x-principal", ""))
    return (match.group(1), match.group(2)) if match else None


def principal_string(principal):
    return f"{principal[0]}:{principal[1]}" if principal else ""


def require_principal(request):
    principal = principal_of(request)
    if principal is None:
        raise ApiError("UNAUTHENTICATED", "missing principal")
    return principal


def parse_rfc3339(text):
    """An aware UTC datetime truncated to ms, or None when `text` is not §0.3's syntax."""
    match = RFC3339_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    try:
        if zone in ("Z", "z"):
            tz = datetime.timezone.utc
        else:
            sign = 1 if zone[0] == "+" else -1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]),
                                                             minutes=int(zone[4:6])))
        moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                   int(second), millis * 1000, tzinfo=tz)
    except ValueError:
        return None
    return moment.astimezone(datetime.timezone.utc)


def request_time(request):
    """*now* for this request (§0.3), truncated to milliseconds, UTC."""
    text = request.headers.get("x-request-time", "")
    if text == "":
        now = datetime.datetime.now(datetime.timezone.utc)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)
    moment = parse_rfc3339(text)
    if moment is None:
        raise invalid("X-Request-Time", "malformed")
    return moment


def to_ms(moment):
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


def request_ms(request):
    return to_ms(request_time(request))


def format_ts(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_ms(ms):
    """A `ts` field in JSON: RFC 3339 with 3 digits, or "" when unset (0, §0.2)."""
    if not ms:
        return ""
    return format_ts(EPOCH + datetime.timedelta(milliseconds=ms))


def fixture_ts(value, field, default=0):
    """Fixture documents give ts as RFC 3339 strings ("" = unset) or unix-ms integers."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value == "":
            return 0
        moment = parse_rfc3339(value)
        if moment is not None:
            return to_ms(moment)
    raise invalid(field, "malformed")


# ---------------------------------------------------------------------------------------------
# §0.3 authorization defaults.


def authorize_player(principal, player_id):
    """Player-scoped action (§0.3), reads and writes: that player, any service or admin."""
    kind, ident = principal
    if kind == "player" and ident != player_id:
        raise permission_denied("principal may not act for this player")


def authorize_write(principal):
    if principal[0] not in ("service", "admin"):
        raise permission_denied("writes need a service or admin principal")


# ---------------------------------------------------------------------------------------------
# §0.2 / §0.4 request fields.


def reject_nan(name):
    raise ValueError(name)


async def json_object_body(request):
    raw = await request.body()
    try:
        body = json.loads(raw, parse_constant=reject_nan) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise invalid("body", "malformed")
    # JSON null means absent (§0.2).
    return {k: v for k, v in body.items() if v is not None}


def query_fields(request):
    """GET fields from the query; an empty value is absent (§0.2)."""
    return {k: v for k, v in request.query_params.items() if v != ""}


def check_path_field(body, name, value):
    """A path field repeated in the body (or query) with another value -> `malformed` (R6)."""
    if name in body and body[name] != value:
        raise invalid(name, "malformed")


def as_int(value, field, lo=-MAX_SAFE_INT, hi=MAX_SAFE_INT):
    """§0.2 integer field: integral number or decimal string; absent = 0."""
    if value is None:
        value = 0
    if isinstance(value, bool):
        raise invalid(field, "type")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        number = int(value)
    else:
        raise invalid(field, "type")
    if number < lo or number > hi:
        raise invalid(field, "out_of_range")
    return number


def as_bool(value, field):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(field, "type")
    return value


def as_str(value, field):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(field, "type")
    return value


def as_list(value, field):
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(field, "type")
    return value


def as_object(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field, "type")
    return {k: v for k, v in value.items() if v is not None}


def check_str(value, field, required=False, min_len=None, max_len=None, pattern=None,
              allowed=None):
    """A string field, first failure wins (§0.4): required -> type -> length -> pattern ->
    unknown_value. `pattern` is a full-match regex; lengths count code points."""
    text = as_str(value, field)
    if text == "":
        if required:
            raise invalid(field, "required")
        return text  # a field that may be "" is checked only when non-empty
    if min_len is not None and len(text) < min_len:
        raise invalid(field, "too_short")
    if max_len is not None and len(text) > max_len:
        raise invalid(field, "too_long")
    if pattern is not None and not re.fullmatch(pattern, text):
        raise invalid(field, "pattern")
    if allowed is not None and text not in allowed:
        raise invalid(field, "unknown_value")
    return text


def check_idempotency_key(value, field="idempotency_key"):
    return check_str(value, field, required=True, min_len=1, max_len=64,
                     pattern=IDEMPOTENCY_KEY_CLASS + "+")


def check_player_id(value, field="player_id"):
    """pl_ + 16 lowercase hex (R32, Q2): no length bounds, any syntax failure is `pattern`."""
    text = check_str(value, field, required=True)
    if not PLAYER_ID_RE.fullmatch(text):
        raise invalid(field, "pattern")
    return text


def ascii_lower(text):
    """§0.2: lowercasing is ASCII-only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


# ---------------------------------------------------------------------------------------------
# §0.5 ids, fingerprints, idempotency, pagination.


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derived_id(prefix, material):
    """`<prefix>_` + hex16(material)."""
    return f"{prefix}_{sha256_hex(material)[:16]}"


def canonical_json(value):
    """RFC 8785 for the values requests carry (strings, integers, bools, lists, objects)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(fields):
    """§0.5: SHA-256 of the JCS of the normalised request (the caller passes every declared field
    except idempotency_key, absent ones at their zero value, integers as integers)."""
    return sha256_hex(canonical_json(fields))


class Idempotency:
    """Records of one service, scoped by (action, principal, key). Only successes are stored."""

    def __init__(self, retention_ms=24 * 3600 * 1000):
        self.retention_ms = retention_ms  # None: never expire
        self.records = {}  # (action, principal, key) -> (fingerprint, response, committed_ms)

    def lookup(self, action, principal, key, print_, now_ms, field="idempotency_key"):
        """Step 5: the stored response (with `replayed: true`) or None; raises ALREADY_EXISTS."""
        record = self.records.get((action, principal_string(principal), key))
        if record is None:
            return None
        stored_print, response, committed = record
        if self.retention_ms is not None and now_ms - committed >= self.retention_ms:
            return None
        if stored_print != print_:
            raise ApiError("ALREADY_EXISTS", "idempotency key reused with a different request",
                           {"field": field})
        return dict(response, replayed=True)

    def store(self, action, principal, key, print_, response, now_ms):
        self.records[(action, principal_string(principal), key)] = (print_, dict(response), now_ms)


def page_size_of(value):
    size = as_int(value, "page_size", I32_MIN, I32_MAX)
    if size == 0:
        return 20
    if size < 1 or size > 100:
        raise invalid("page_size", "out_of_range")
    return size


def encode_page_token(key):
    return base64.urlsafe_b64encode(str(key).encode("utf-8")).decode("ascii").rstrip("=")


def decode_page_token(token, integer=False):
    """None for "" (first page); the key otherwise. Non-canonical tokens -> `malformed`."""
    token = as_str(token, "page_token")
    if token == "":
        return None
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]*", token):
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if encode_page_token_bytes(raw) != token:
            raise ValueError(token)
        text = raw.decode("utf-8")
        if integer:
            if not re.fullmatch(r"-?(0|[1-9][0-9]*)", text) or text == "-0":
                raise ValueError(text)
            return int(text)
        return text
    except ValueError:
        raise invalid("page_token", "malformed")


def encode_page_token_bytes(raw):
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def paginate(items, size, after, key_of):
    """One page of `items` (already in list order); `after(item)` is True for items strictly
    after the request's token (None for the first page)."""
    i = 0
    if after is not None:
        while i < len(items) and not after(items[i]):
            i += 1
    page = items[i:i + size]
    more = i + len(page) < len(items)
    return page, (encode_page_token(key_of(page[-1])) if more and page else "")


# ---------------------------------------------------------------------------------------------
# §0.7 event logs (`GET /api/<service>/_events`), one per service.

EVENTS = defaultdict(list)


def emit(service, event, now_ms, **fields):
    EVENTS[service].append({"event": event, "event_id": uuid.uuid4().hex,
                            "occurred_at": format_ms(now_ms), **fields})
