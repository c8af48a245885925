"""auth (SERVICES.md §2.1, R13-R19, N6): accounts, password login, sessions, lockout.

Routes: POST /api/auth/register, /login, /validate, /logout (public) and
POST /api/auth/players/{player_id}/password (change_password, player-scoped write).

The `_fixture` document is the native port's (services/auth/README.md): `accounts` (username,
email, password or password_hash, created_at), `throttles` (username, failures, last_failure_at,
locked_until) and `sessions` (token or token_sha256, player_id, issued_at, expires_at, revoked).
"""

import base64
import hashlib
import hmac
import secrets

from fastapi import APIRouter, Request

from common import (ApiError, ascii_lower, as_bool, as_int, as_list, as_object, as_str,
                    authorize_player, check_path_field, check_str, derived_id, emit, fixture_ts,
                    format_ms, invalid, json_object_body, not_found, request_ms,
                    require_principal, sha256_hex)

SERVICE = "auth"
ITERATIONS = 100000
LOCKOUT_MS = 15 * 60 * 1000
MAX_FAILURES = 5
TTL_S = 86400
MAX_LIVE_SESSIONS = 10
BLOCKLIST = ("password123", "qwerty12345", "letmein1234", "bodybroker1")
BAD_CREDENTIALS = "invalid username or password"

router = APIRouter()


class State:
    def __init__(self):
        self.accounts = {}   # player_id -> {player_id, username, email, password_hash, created_at}
        self.throttles = {}  # lowercased username -> {failures, last_failure_at, locked_until}
        self.sessions = {}   # token sha256 hex -> {player_id, issued_at, expires_at, revoked}


STATE = State()


def reset():
    global STATE
    STATE = State()


# ---------------------------------------------------------------------------------------------
# Rules.


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password, iterations=ITERATIONS):
    """Rule 3, in the port's encoding: pbkdf2_sha256$<iterations>$<salt>$<key> (unpadded b64url)."""
    salt = secrets.token_bytes(16)
    key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${b64url(salt)}${b64url(key)}"


def verify_password(password, encoded):
    scheme, iterations, salt, key = encoded.split("$")
    if scheme != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), unb64url(salt), int(iterations))
    return hmac.compare_digest(got, unb64url(key))


def player_id_for(lower_username):
    return derived_id("pl", "player:" + lower_username)


def check_username(value):
    return check_str(value, "username", required=True, min_len=3, max_len=24,
                     pattern=r"[A-Za-z][A-Za-z0-9_]*")


def check_email(value):
    email = check_str(value, "email", max_len=254)
    if email and (email.count("@") != 1 or email.startswith("@") or email.endswith("@")):
        raise invalid("email", "pattern")
    return email


def check_password(value, field, username):
    """Rule 2; the first failure wins."""
    password = check_str(value, field, required=True)
    if len(password) < 10:
        raise invalid(field, "too_short")
    if len(password) > 128:
        raise invalid(field, "too_long")
    if not any("A" <= c <= "Z" or "a" <= c <= "z" for c in password):
        raise invalid(field, "missing_letter")
    if not any("0" <= c <= "9" for c in password):
        raise invalid(field, "missing_digit")
    lower = ascii_lower(password)
    if username and ascii_lower(username) in lower:
        raise invalid(field, "contains_username")
    if lower in BLOCKLIST:
        raise invalid(field, "blocklisted")
    return password


def throttle_of(lower_username):
    return STATE.throttles.setdefault(lower_username,
                                      {"failures": 0, "last_failure_at": 0, "locked_until": 0})


def check_lockout(lower_username, now):
    """Rule 4: checked before the password; the lock is not extended."""
    throttle = STATE.throttles.get(lower_username)
    if throttle and now < throttle["locked_until"]:
        raise ApiError("RESOURCE_EXHAUSTED", "account temporarily locked",
                       {"retry_after_ms": throttle["locked_until"] - now})


def record_failure(lower_username, now):
    """Rule 4: a bad credential; returns the UNAUTHENTICATED error to raise."""
    throttle = throttle_of(lower_username)
    if now - throttle["last_failure_at"] > LOCKOUT_MS:
        throttle["failures"] = 0
    throttle["failures"] += 1
    throttle["last_failure_at"] = now
    remaining = MAX_FAILURES - throttle["failures"]
    if throttle["failures"] >= MAX_FAILURES:
        throttle["locked_until"] = now + LOCKOUT_MS
        throttle["failures"] = 0
        remaining = 0
        emit(SERVICE, "account_locked", now, username=lower_username,
             locked_until=format_ms(throttle["locked_until"]))
    return ApiError("UNAUTHENTICATED", BAD_CREDENTIALS, {"attempts_remaining": remaining})


def reset_failures(lower_username):
    throttle = STATE.throttles.get(lower_username)
    if throttle:
        throttle["failures"] = 0


def live_sessions(player_id, now):
    """Rule 5: the player's live sessions, oldest first (issued_at, then hash; R13)."""
    live = [(s["issued_at"], digest) for digest, s in STATE.sessions.items()
            if s["player_id"] == player_id and not s["revoked"] and now < s["expires_at"]]
    return [digest for _, digest in sorted(live)]


# ---------------------------------------------------------------------------------------------
# Actions.


@router.post("/api/auth/register")
async def register(request: Request):
    now = request_ms(request)  # public: no principal needed
    body = await json_object_body(request)
    username = check_username(body.get("username"))
    password = check_password(body.get("password"), "password", username)
    email = check_email(body.get("email"))
    lower = ascii_lower(username)
    player_id = player_id_for(lower)
    if player_id in STATE.accounts:
        raise ApiError("ALREADY_EXISTS", "username is taken", {"field": "username"})
    STATE.accounts[player_id] = {"player_id": player_id, "username": lower, "email": email,
                                 "password_hash": hash_password(password), "created_at": now}
    emit(SERVICE, "player_registered", now, player_id=player_id, username=lower)
    return {"player_id": player_id, "username": lower, "created_at": format_ms(now)}


@router.post("/api/auth/login")
async def login(request: Request):
    now = request_ms(request)
    body = await json_object_body(request)
    # R14: presence only; anything else that does not match is a (counted) bad credential.
    username = check_str(body.get("username"), "username", required=True)
    password = check_str(body.get("password"), "password", required=True)
    lower = ascii_lower(username)
    check_lockout(lower, now)
    player_id = player_id_for(lower)
    account = STATE.accounts.get(player_id)
    if account is None or not verify_password(password, account["password_hash"]):
        raise record_failure(lower, now)

    token = "bbs_" + b64url(secrets.token_bytes(32))
    digest = sha256_hex(token)
    live = live_sessions(player_id, now)
    evicted = live[:max(0, len(live) - MAX_LIVE_SESSIONS + 1)]
    for old in evicted:
        STATE.sessions[old]["revoked"] = True
    expires_at = now + TTL_S * 1000
    STATE.sessions[digest] = {"player_id": player_id, "issued_at": now, "expires_at": expires_at,
                              "revoked": False}
    reset_failures(lower)
    if evicted:
        emit(SERVICE, "sessions_revoked", now, player_id=player_id, count=len(evicted))
    emit(SERVICE, "login_succeeded", now, player_id=player_id)
    return {"token": token, "player_id": player_id, "expires_at": format_ms(expires_at),
            "ttl_s": TTL_S}


def token_field(body):
    return check_str(body.get("token"), "token", required=True)  # R15


@router.post("/api/auth/validate")
async def validate(request: Request):
    now = request_ms(request)
    body = await json_object_body(request)
    session = STATE.sessions.get(sha256_hex(token_field(body)))
    # R16: revocation first, so revoked-and-expired is `invalid`.
    if session is None or session["revoked"]:
        raise ApiError("UNAUTHENTICATED", "session token is not valid", {"reason": "invalid"})
    if now >= session["expires_at"]:
        raise ApiError("UNAUTHENTICATED", "session token is not valid", {"reason": "expired"})
    account = STATE.accounts[session["player_id"]]
    return {"player_id": session["player_id"], "username": account["username"],
            "expires_at": format_ms(session["expires_at"])}


@router.post("/api/auth/logout")
async def logout(request: Request):
    now = request_ms(request)
    body = await json_object_body(request)
    session = STATE.sessions.get(sha256_hex(token_field(body)))
    revoked = session is not None and not session["revoked"] and now < session["expires_at"]
    if revoked:
        session["revoked"] = True
        emit(SERVICE, "sessions_revoked", now, player_id=session["player_id"], count=1)
    return {"revoked": revoked}


@router.post("/api/auth/players/{player_id}/password")
async def change_password(player_id: str, request: Request):
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    check_path_field(body, "player_id", player_id)
    # Rule 7 / R17, in order.
    check_str(player_id, "player_id", required=True)
    old_password = check_str(body.get("old_password"), "old_password", required=True)
    account = STATE.accounts.get(player_id)
    new_password = check_password(body.get("new_password"), "new_password",
                                  account["username"] if account else "")
    if new_password == old_password:
        raise invalid("new_password", "unchanged")
    authorize_player(principal, player_id)
    if account is None:
        raise not_found("player_id", "unknown player")
    lower = account["username"]
    check_lockout(lower, now)
    if not verify_password(old_password, account["password_hash"]):
        raise record_failure(lower, now)

    account["password_hash"] = hash_password(new_password)
    revoked = live_sessions(player_id, now)
    for digest in revoked:
        STATE.sessions[digest]["revoked"] = True
    reset_failures(lower)
    if revoked:
        emit(SERVICE, "sessions_revoked", now, player_id=player_id, count=len(revoked))
    return {"revoked_sessions": len(revoked)}


# ---------------------------------------------------------------------------------------------
# Fixture.


def load_fixture(doc, now):
    """Replaces all auth state with `doc` (see the module docstring)."""
    state = State()
    for i, entry in enumerate(as_list(doc.get("accounts"), "accounts")):
        entry = as_object(entry, f"accounts[{i}]")
        lower = ascii_lower(check_username(entry.get("username")))
        player_id = player_id_for(lower)
        if ("password" in entry) == ("password_hash" in entry):
            raise invalid(f"accounts[{i}].password_hash", "malformed")
        encoded = entry.get("password_hash") or hash_password(
            as_str(entry.get("password"), f"accounts[{i}].password"))
        state.accounts[player_id] = {
            "player_id": player_id, "username": lower,
            "email": as_str(entry.get("email"), f"accounts[{i}].email"),
            "password_hash": encoded,
            "created_at": fixture_ts(entry.get("created_at"), f"accounts[{i}].created_at", now)}
    for i, entry in enumerate(as_list(doc.get("throttles"), "throttles")):
        entry = as_object(entry, f"throttles[{i}]")
        field = f"throttles[{i}]"
        state.throttles[ascii_lower(as_str(entry.get("username"), f"{field}.username"))] = {
            "failures": as_int(entry.get("failures"), f"{field}.failures", 0, MAX_FAILURES - 1),
            "last_failure_at": fixture_ts(entry.get("last_failure_at"), f"{field}.last_failure_at"),
            "locked_until": fixture_ts(entry.get("locked_until"), f"{field}.locked_until")}
    for i, entry in enumerate(as_list(doc.get("sessions"), "sessions")):
        entry = as_object(entry, f"sessions[{i}]")
        field = f"sessions[{i}]"
        if "token" in entry:
            digest = sha256_hex(as_str(entry["token"], f"{field}.token"))
        else:
            digest = check_str(entry.get("token_sha256"), f"{field}.token_sha256", required=True,
                               pattern=r"[0-9a-f]{64}")
        player_id = as_str(entry.get("player_id"), f"{field}.player_id")
        if player_id not in state.accounts:
            raise invalid(f"{field}.player_id", "unknown_value")
        issued_at = fixture_ts(entry.get("issued_at"), f"{field}.issued_at", now)
        state.sessions[digest] = {
            "player_id": player_id, "issued_at": issued_at,
            "expires_at": fixture_ts(entry.get("expires_at"), f"{field}.expires_at",
                                     issued_at + TTL_S * 1000),
            "revoked": as_bool(entry.get("revoked"), f"{field}.revoked")}
    global STATE
    STATE = state
    return {"accounts": len(state.accounts), "throttles": len(state.throttles),
            "sessions": len(state.sessions)}
