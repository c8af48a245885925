"""quest-system (SERVICES.md §2.15, N20-N21, Q1-Q13): quest definitions and per-player progress.

Routes: PUT /api/quest-system/quests/{quest_id} (put_quest), under
/api/quest-system/players/{player_id}/quests/{quest_id}/: POST accept, progress (record_progress),
complete, revert-completion; GET /api/quest-system/players/{player_id}/quests
(list_player_quests).

The `_fixture` document is the native port's (services/quest_system/README.md): `quests` (put_quest
bodies, field-checked with paths `quests[i].…`, prerequisites need not exist, optional `version`,
default 1) and `player_quests` (player_id, quest_id, status, progress, completions, accepted_at
(default: the fixture request's now), completed_at).
"""

from fastapi import APIRouter, Request

from common import (ApiError, Idempotency, as_bool, as_int, as_list, as_object, authorize_player,
                    authorize_write, check_idempotency_key, check_path_field, check_player_id,
                    check_str, decode_page_token, emit, fingerprint, fixture_ts, format_ms,
                    invalid, json_object_body, not_found, page_size_of, paginate, precondition,
                    query_fields, request_ms, require_principal)

SERVICE = "quest-system"
KINDS = ("kill", "collect", "visit", "talk", "deliver")
CURRENCIES = ("GLD", "SHD")
STATUSES = ("active", "completed")
MAX_ACTIVE = 25

router = APIRouter()


class State:
    def __init__(self):
        self.quests = {}   # quest_id -> {"def": checked put_quest fields, "version": n}
        self.players = {}  # player_id -> {quest_id: PlayerQuest (ts as unix ms)}
        self.idempotency = Idempotency()  # record_progress, 24 h


STATE = State()


def reset():
    global STATE
    STATE = State()


# ---------------------------------------------------------------------------------------------
# Field checks (rule 1, Q2-Q6), in table order; `prefix` names fixture entries (`quests[0].`).


def check_quest_id(value, field="quest_id"):
    # q\.[a-z0-9_]{1,48}: 3-50 chars, the pattern's finite bounds (R4).
    return check_str(value, field, required=True, min_len=3, max_len=50,
                     pattern=r"q\.[a-z0-9_]{1,48}")


def check_definition(body, prefix=""):
    """put_quest's own syntax; returns the definition with every field at its checked value."""
    quest_id = check_quest_id(body.get("quest_id"), prefix + "quest_id")
    title = check_str(body.get("title"), prefix + "title", required=True, max_len=120)
    min_level = as_int(body.get("min_level"), prefix + "min_level", 1, 100)

    field = prefix + "prerequisites"
    prerequisites = as_list(body.get("prerequisites"), field)
    if len(prerequisites) > 10:
        raise invalid(field, "too_long")
    for i, entry in enumerate(prerequisites):
        if entry == "":
            raise invalid(f"{field}[{i}]", "too_short")
        check_quest_id(entry, f"{field}[{i}]")
        if entry in prerequisites[:i]:
            raise invalid(f"{field}[{i}]", "malformed")  # Q4: the later duplicate

    field = prefix + "objectives"
    raw_objectives = as_list(body.get("objectives"), field)
    if not raw_objectives:
        raise invalid(field, "required")
    if len(raw_objectives) > 10:
        raise invalid(field, "too_long")
    objectives = []
    for i, entry in enumerate(raw_objectives):
        item = f"{field}[{i}]"
        entry = as_object(entry, item)
        objective_id = check_str(entry.get("objective_id"), f"{item}.objective_id",
                                 required=True, max_len=32, pattern=r"[a-z0-9_]+")
        if any(o["objective_id"] == objective_id for o in objectives):
            raise invalid(f"{item}.objective_id", "malformed")  # Q4
        objectives.append({
            "objective_id": objective_id,
            "kind": check_str(entry.get("kind"), f"{item}.kind", required=True, allowed=KINDS),
            "target": check_str(entry.get("target"), f"{item}.target", required=True,
                                max_len=64),  # Q3
            "required": as_int(entry.get("required"), f"{item}.required", 1, 10000)})

    rewards_field = prefix + "rewards"
    rewards = as_object(body.get("rewards"), rewards_field)
    currency, standing = [], []
    field = rewards_field + ".currency"
    raw = as_list(rewards.get("currency"), field)
    if len(raw) > 4:
        raise invalid(field, "too_long")
    for i, entry in enumerate(raw):
        item = f"{field}[{i}]"
        entry = as_object(entry, item)
        currency.append({
            "currency": check_str(entry.get("currency"), f"{item}.currency", required=True,
                                  allowed=CURRENCIES),
            "amount_minor": as_int(entry.get("amount_minor"), f"{item}.amount_minor", 1, 10**9)})
    field = rewards_field + ".standing"
    raw = as_list(rewards.get("standing"), field)
    if len(raw) > 4:
        raise invalid(field, "too_long")
    for i, entry in enumerate(raw):
        item = f"{field}[{i}]"
        entry = as_object(entry, item)
        faction_id = check_str(entry.get("faction_id"), f"{item}.faction_id", required=True,
                               max_len=32, pattern=r"[a-z0-9_]+")  # Q3
        delta = as_int(entry.get("delta"), f"{item}.delta", -(2**31), 2**31 - 1)
        if delta == 0 or abs(delta) > 1000:
            raise invalid(f"{item}.delta", "out_of_range")  # Q5: ±1-1000
        standing.append({"faction_id": faction_id, "delta": delta})

    return {"quest_id": quest_id, "title": title, "min_level": min_level,
            "prerequisites": list(prerequisites), "objectives": objectives,
            "rewards": {"currency": currency, "standing": standing},
            "repeatable": as_bool(body.get("repeatable"), prefix + "repeatable")}


def player_quest_fields(player_id, quest_id, body):
    """The path fields every player action starts with (R6, Q2)."""
    check_path_field(body, "player_id", player_id)
    check_path_field(body, "quest_id", quest_id)
    check_player_id(player_id)
    check_quest_id(quest_id)


# ---------------------------------------------------------------------------------------------
# Rules.


def quest_or_404(quest_id):
    quest = STATE.quests.get(quest_id)
    if quest is None:
        raise not_found("quest_id", "unknown quest")
    return quest["def"]


def player_quests(player_id):
    return STATE.players.setdefault(player_id, {})


def reaches(start_ids, target):
    """True if `target` is reachable from `start_ids` through stored prerequisites."""
    stack, seen = list(start_ids), set()
    while stack:
        quest_id = stack.pop()
        if quest_id == target:
            return True
        if quest_id in seen:
            continue
        seen.add(quest_id)
        if quest_id in STATE.quests:
            stack.extend(STATE.quests[quest_id]["def"]["prerequisites"])
    return False


def resync_progress(definition):
    """Rule 6, Q11: progress for removed objectives is dropped, new ones start at 0, every value
    is clamped to the new `required`. Done eagerly for every player holding the quest."""
    for quests in STATE.players.values():
        pq = quests.get(definition["quest_id"])
        if pq is not None:
            pq["progress"] = {o["objective_id"]: min(pq["progress"].get(o["objective_id"], 0),
                                                     o["required"])
                              for o in definition["objectives"]}


def active_quest(player_id, quest_id):
    pq = STATE.players.get(player_id, {}).get(quest_id)
    if pq is None or pq["status"] != "active":
        raise precondition("not_active", "quest not active")  # Q7, N21
    return pq


def sorted_progress(progress):
    return {key: progress[key] for key in sorted(progress)}


# ---------------------------------------------------------------------------------------------
# Actions.


@router.put("/api/quest-system/quests/{quest_id}")
async def put_quest(quest_id: str, request: Request):
    principal = require_principal(request)
    request_ms(request)
    body = await json_object_body(request)
    check_path_field(body, "quest_id", quest_id)
    definition = check_definition(dict(body, quest_id=quest_id))
    authorize_write(principal)
    # Q1: a self-reference is a cycle, checked first whether or not the quest exists.
    if quest_id in definition["prerequisites"]:
        raise precondition("prerequisite_cycle", "prerequisite cycle")
    for i, prerequisite in enumerate(definition["prerequisites"]):
        if prerequisite not in STATE.quests:
            raise not_found(f"prerequisites[{i}]", "undefined prerequisite")  # N20
    if reaches(definition["prerequisites"], quest_id):
        raise precondition("prerequisite_cycle", "prerequisite cycle")
    previous = STATE.quests.get(quest_id)
    version = previous["version"] + 1 if previous else 1
    STATE.quests[quest_id] = {"def": definition, "version": version}
    resync_progress(definition)
    return {"quest_id": quest_id, "version": version}


PLAYER_QUEST = "/api/quest-system/players/{player_id}/quests/{quest_id}"


@router.post(PLAYER_QUEST + "/accept")
async def accept(player_id: str, quest_id: str, request: Request):
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    player_quest_fields(player_id, quest_id, body)
    level = as_int(body.get("player_level"), "player_level", 0, 1000)  # Q6
    authorize_player(principal, player_id)
    definition = quest_or_404(quest_id)
    # Rule 2, in order, against the current definition (Q12).
    if level < definition["min_level"]:
        raise precondition("level_too_low", "level too low")
    quests = STATE.players.get(player_id, {})
    missing = sorted(p for p in definition["prerequisites"]
                     if quests.get(p, {}).get("completions", 0) < 1)
    if missing:
        raise precondition("prerequisites_unmet", "prerequisites not met",
                           missing=",".join(missing))
    current = quests.get(quest_id)
    if current is not None and current["status"] == "active":
        raise ApiError("ALREADY_EXISTS", "quest already active", {"field": "quest_id"})
    if current is not None and current["completions"] > 0 and not definition["repeatable"]:
        raise precondition("already_completed", "quest already completed")
    if sum(1 for pq in quests.values() if pq["status"] == "active") >= MAX_ACTIVE:
        raise ApiError("RESOURCE_EXHAUSTED", "too many active quests",
                       {"reason": "limit_exceeded", "limit": MAX_ACTIVE})
    pq = player_quests(player_id).setdefault(quest_id, {"completions": 0})
    pq.update(status="active", accepted_at=now, completed_at=0,  # N21, Q10
              progress={o["objective_id"]: 0 for o in definition["objectives"]})
    emit(SERVICE, "quest_accepted", now, player_id=player_id, quest_id=quest_id)
    return {"quest_id": quest_id, "status": "active", "progress": sorted_progress(pq["progress"])}


@router.post(PLAYER_QUEST + "/progress")
async def record_progress(player_id: str, quest_id: str, request: Request):
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    player_quest_fields(player_id, quest_id, body)
    # Rule 3, in order.
    objective_id = check_str(body.get("objective_id"), "objective_id", required=True, max_len=32,
                             pattern=r"[a-z0-9_]+")
    amount = as_int(body.get("amount"), "amount", 1, 1000)
    key = check_idempotency_key(body.get("idempotency_key"))
    authorize_player(principal, player_id)
    definition = quest_or_404(quest_id)
    objective = next((o for o in definition["objectives"] if o["objective_id"] == objective_id),
                     None)
    if objective is None:
        raise not_found("objective_id", "unknown objective")
    print_ = fingerprint({"player_id": player_id, "quest_id": quest_id,
                          "objective_id": objective_id, "amount": amount})
    replay = STATE.idempotency.lookup("record_progress", principal, key, print_, now)
    if replay is not None:
        return replay
    pq = active_quest(player_id, quest_id)
    pq["progress"][objective_id] = min(objective["required"],
                                       pq["progress"].get(objective_id, 0) + amount)  # Q13
    all_done = all(pq["progress"].get(o["objective_id"], 0) >= o["required"]
                   for o in definition["objectives"])
    response = {"progress": sorted_progress(pq["progress"]), "all_done": all_done,
                "replayed": False}
    STATE.idempotency.store("record_progress", principal, key, print_, response, now)
    return response


@router.post(PLAYER_QUEST + "/complete")
async def complete(player_id: str, quest_id: str, request: Request):
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    player_quest_fields(player_id, quest_id, body)
    authorize_write(principal)  # rule 4: players turn in via orchestration
    definition = quest_or_404(quest_id)
    pq = active_quest(player_id, quest_id)
    incomplete = [o["objective_id"] for o in definition["objectives"]  # Q8: definition order
                  if pq["progress"].get(o["objective_id"], 0) < o["required"]]
    if incomplete:
        raise precondition("objectives_incomplete", "objectives incomplete",
                           incomplete=",".join(incomplete))
    pq.update(status="completed", completions=pq["completions"] + 1, completed_at=now)
    emit(SERVICE, "quest_completed", now, player_id=player_id, quest_id=quest_id,
         completions=pq["completions"])
    return {"quest_id": quest_id, "status": "completed", "completions": pq["completions"],
            "rewards": definition["rewards"]}  # reported, not granted


@router.post(PLAYER_QUEST + "/revert-completion")
async def revert_completion(player_id: str, quest_id: str, request: Request):
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    player_quest_fields(player_id, quest_id, body)
    authorize_write(principal)  # rule 5: saga compensation
    quest_or_404(quest_id)
    pq = STATE.players.get(player_id, {}).get(quest_id)
    if pq is None or pq["status"] != "completed":
        raise precondition("not_completed", "quest not completed")  # Q9
    pq.update(status="active", completions=pq["completions"] - 1, completed_at=0)  # Q10
    emit(SERVICE, "quest_completion_reverted", now, player_id=player_id, quest_id=quest_id)
    return {"quest_id": quest_id, "status": "active", "completions": pq["completions"]}


@router.get("/api/quest-system/players/{player_id}/quests")
async def list_player_quests(player_id: str, request: Request):
    principal = require_principal(request)
    request_ms(request)
    query = query_fields(request)
    check_path_field(query, "player_id", player_id)
    check_player_id(player_id)
    status = check_str(query.get("status"), "status", allowed=STATUSES)  # "" = all
    size = page_size_of(query.get("page_size"))
    after = decode_page_token(query.get("page_token"))
    authorize_player(principal, player_id)
    quests = STATE.players.get(player_id, {})
    items = [(quest_id, quests[quest_id]) for quest_id in sorted(quests)  # rule 6: by quest_id
             if not status or quests[quest_id]["status"] == status]
    page, token = paginate(items, size, None if after is None else lambda item: item[0] > after,
                           lambda item: item[0])
    return {"quests": [{"player_id": player_id, "quest_id": quest_id, "status": pq["status"],
                        "progress": sorted_progress(pq["progress"]),
                        "completions": pq["completions"],
                        "accepted_at": format_ms(pq["accepted_at"]),
                        "completed_at": format_ms(pq["completed_at"])} for quest_id, pq in page],
            "next_page_token": token}


# ---------------------------------------------------------------------------------------------
# Fixture.


def load_fixture(doc, now):
    """Replaces all quest-system state (see the module docstring)."""
    state = State()
    for i, entry in enumerate(as_list(doc.get("quests"), "quests")):
        entry = as_object(entry, f"quests[{i}]")
        definition = check_definition(entry, f"quests[{i}].")
        version = as_int(entry.get("version", 1), f"quests[{i}].version", 1)
        state.quests[definition["quest_id"]] = {"def": definition, "version": version}
    for i, entry in enumerate(as_list(doc.get("player_quests"), "player_quests")):
        field = f"player_quests[{i}]"
        entry = as_object(entry, field)
        player_id = check_player_id(entry.get("player_id"), f"{field}.player_id")
        quest_id = check_quest_id(entry.get("quest_id"), f"{field}.quest_id")
        progress = as_object(entry.get("progress"), f"{field}.progress")
        state.players.setdefault(player_id, {})[quest_id] = {
            "status": check_str(entry.get("status"), f"{field}.status", required=True,
                                allowed=STATUSES),
            "progress": {key: as_int(value, f"{field}.progress.{key}", 0, 10000)
                         for key, value in progress.items()},
            "completions": as_int(entry.get("completions"), f"{field}.completions", 0,
                                  2**31 - 1),
            "accepted_at": fixture_ts(entry.get("accepted_at"), f"{field}.accepted_at", now),
            "completed_at": fixture_ts(entry.get("completed_at"), f"{field}.completed_at")}
    global STATE
    STATE = state
    return {"quests": len(state.quests), "player_quests": len(doc.get("player_quests") or [])}
