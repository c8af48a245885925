"""payment (SERVICES.md §2.3, R31-R35): wallets, a double-entry ledger, idempotent transactions.

Routes: GET /api/payment/wallets/{account_id}/{currency} (get_wallet),
GET /api/payment/wallets/{account_id}/{currency}/entries (list_entries), and
POST /api/payment/credit, /purchase, /transfer, /refund.

The `_fixture` document is the native port's (services/payment/README.md):
`{"wallets": [{"account_id", "currency", "balance_minor"}]}`; `sys:mint` receives minus the sum of
the listed balances per currency, so the ledger balances (rule 3).
"""

import re

from fastapi import APIRouter, Request

from common import (ApiError, Idempotency, as_int, as_list, as_object, authorize_player,
                    authorize_write, check_idempotency_key, check_path_field, check_str,
                    decode_page_token, derived_id, emit, fingerprint, format_ms, invalid,
                    json_object_body, not_found, page_size_of, paginate, permission_denied,
                    precondition, principal_string, query_fields, request_ms, require_principal)

SERVICE = "payment"
CURRENCIES = ("GLD", "SHD")
MINT, SINK = "sys:mint", "sys:sink"
MAX_AMOUNT = 10**12
BALANCE_LIMIT = 10**15

router = APIRouter()


class State:
    def __init__(self):
        self.wallets = {}   # (currency, account) -> {"balance": n, "seq": n}
        self.entries = {}   # (currency, account) -> [Entry dicts], entry_seq ascending
        self.txs = {}       # tx_id -> Transaction dict
        self.refunded = {}  # original tx_id -> cumulative refunded amount
        self.idempotency = Idempotency(retention_ms=None)  # rule 2: never expire


STATE = State()


def reset():
    global STATE
    STATE = State()


# ---------------------------------------------------------------------------------------------
# Accounts (R32, R35): alternative-form syntax, so any failure is `pattern`.


def is_player(account):
    return re.fullmatch(r"pl_[0-9a-f]{16}", account) is not None


def is_escrow(account):
    return re.fullmatch(r"escrow:[A-Za-z0-9_.-]{1,64}", account) is not None


def is_bounded(account):
    """pl_*/escrow:* balances stay within 0-10^15 (rule 4); sys:* are unbounded."""
    return is_player(account) or is_escrow(account)


def check_account(value, field, accepts=lambda a: is_bounded(a) or a in (MINT, SINK)):
    account = check_str(value, field, required=True)
    if not accepts(account):
        raise invalid(field, "pattern")
    return account


def check_currency(value, field="currency"):
    return check_str(value, field, required=True, allowed=CURRENCIES)


def check_amount(value, lo=1):
    return as_int(value, "amount_minor", lo, MAX_AMOUNT)


def check_text(value, field):
    return check_str(value, field, max_len=120)


# ---------------------------------------------------------------------------------------------
# The ledger.


def wallet(currency, account):
    return STATE.wallets.get((currency, account), {"balance": 0, "seq": 0})


def apply(tx):
    """Rules 3-4: checks the debit, then the credit's limit, then writes both entries at once."""
    currency, amount = tx["currency"], tx["amount_minor"]
    source, dest = wallet(currency, tx["from_account"]), wallet(currency, tx["to_account"])
    if is_bounded(tx["from_account"]) and source["balance"] - amount < 0:
        raise precondition("insufficient_funds", "insufficient funds",
                           balance_minor=source["balance"], required_minor=amount)
    if is_bounded(tx["to_account"]) and dest["balance"] + amount > BALANCE_LIMIT:
        raise precondition("balance_limit", "balance limit exceeded", account_id=tx["to_account"])
    # Rule 3: every write moves -a/+a, so the book balances after it iff it balances before.
    if sum(w["balance"] for (c, _), w in STATE.wallets.items() if c == currency) != 0:
        raise ApiError("INTERNAL", f"ledger {currency} does not balance")
    tx["entries"] = []
    for account, delta, before in ((tx["from_account"], -amount, source),
                                   (tx["to_account"], amount, dest)):
        after = {"balance": before["balance"] + delta, "seq": before["seq"] + 1}
        STATE.wallets[(currency, account)] = after
        entry = {"entry_seq": after["seq"], "tx_id": tx["tx_id"], "kind": tx["kind"],
                 "amount_minor": delta, "balance_after_minor": after["balance"],
                 "created_at": tx["created_at"]}
        STATE.entries.setdefault((currency, account), []).append(entry)
        tx["entries"].append(entry)
    STATE.txs[tx["tx_id"]] = tx
    emit(SERVICE, "transaction_committed", tx["created_at"], tx_id=tx["tx_id"], kind=tx["kind"],
         currency=currency, amount_minor=amount, from_account=tx["from_account"],
         to_account=tx["to_account"])
    return tx


def new_tx(action, principal, key, now, currency, amount, source, dest, **extra):
    return {"tx_id": derived_id("tx", f"{action}:{principal_string(principal)}:{key}"),  # rule 2
            "kind": action, "principal": principal_string(principal), "idempotency_key": key,
            "currency": currency, "amount_minor": amount, "from_account": source,
            "to_account": dest, "sku": "", "reason": "", "refunded_minor": 0,
            "original_tx_id": "", "created_at": now, **extra}


def run_idempotent(action, principal, key, fields, now, body):
    """§0.5 step 5, then `body()` for a first request; only successes are stored."""
    print_ = fingerprint(fields)
    replay = STATE.idempotency.lookup(action, principal, key, print_, now)
    if replay is not None:
        return replay
    response = body()
    STATE.idempotency.store(action, principal, key, print_, response, now)
    return response


# ---------------------------------------------------------------------------------------------
# Actions.


def player_of(account):
    """Actions naming a player account are player-scoped (§0.3, R7)."""
    return account if is_player(account) else None


@router.get("/api/payment/wallets/{account_id}/{currency}")
async def get_wallet(account_id: str, currency: str, request: Request):
    principal = require_principal(request)
    request_ms(request)
    query = query_fields(request)
    check_path_field(query, "account_id", account_id)
    check_path_field(query, "currency", currency)
    check_account(account_id, "account_id")
    check_currency(currency)
    if player_of(account_id):
        authorize_player(principal, account_id)
    found = STATE.wallets.get((currency, account_id))
    return {"account_id": account_id, "currency": currency,
            "balance_minor": found["balance"] if found else 0, "exists": found is not None}


@router.get("/api/payment/wallets/{account_id}/{currency}/entries")
async def list_entries(account_id: str, currency: str, request: Request):
    principal = require_principal(request)
    request_ms(request)
    query = query_fields(request)
    check_path_field(query, "account_id", account_id)
    check_path_field(query, "currency", currency)
    check_account(account_id, "account_id")
    check_currency(currency)
    size = page_size_of(query.get("page_size"))
    after = decode_page_token(query.get("page_token"), integer=True)
    if player_of(account_id):
        authorize_player(principal, account_id)
    # Rule 7: entry_seq descending; the token is the page's last entry_seq.
    items = list(reversed(STATE.entries.get((currency, account_id), [])))
    page, token = paginate(items, size, None if after is None else lambda e: e["entry_seq"] < after,
                           lambda e: e["entry_seq"])
    entries = [{"entry_seq": e["entry_seq"], "tx_id": e["tx_id"], "kind": e["kind"],
                "amount_minor": e["amount_minor"], "balance_after_minor": e["balance_after_minor"],
                "created_at": format_ms(e["created_at"])} for e in page]
    return {"entries": entries, "next_page_token": token}


async def money_request(request):
    """What every money-moving action reads first, in §0.4 order: the principal, the request
    time, the JSON body and its idempotency key."""
    principal = require_principal(request)
    now = request_ms(request)
    body = await json_object_body(request)
    return principal, now, body, check_idempotency_key(body.get("idempotency_key"))


@router.post("/api/payment/credit")
async def credit(request: Request):
    principal, now, body, key = await money_request(request)
    account = check_account(body.get("account_id"), "account_id", is_bounded)  # R35
    currency = check_currency(body.get("currency"))
    amount = check_amount(body.get("amount_minor"))
    reason = check_text(body.get("reason"), "reason")
    authorize_write(principal)  # rule 5: service/admin

    def commit():
        tx = apply(new_tx("credit", principal, key, now, currency, amount, MINT, account,
                          reason=reason))
        return {"tx_id": tx["tx_id"], "balance_minor": tx["entries"][1]["balance_after_minor"],
                "replayed": False}

    return run_idempotent("credit", principal, key,
                          {"account_id": account, "currency": currency, "amount_minor": amount,
                           "reason": reason}, now, commit)


@router.post("/api/payment/purchase")
async def purchase(request: Request):
    principal, now, body, key = await money_request(request)
    account = check_account(body.get("account_id"), "account_id", is_player)  # R35
    currency = check_currency(body.get("currency"))
    amount = check_amount(body.get("amount_minor"))
    sku = check_str(body.get("sku"), "sku", required=True, min_len=1, max_len=64,
                    pattern=r"[a-z0-9_.-]+")
    authorize_player(principal, account)  # rule 5: player-scoped

    def commit():
        tx = apply(new_tx("purchase", principal, key, now, currency, amount, account, SINK,
                          sku=sku))
        return {"tx_id": tx["tx_id"], "balance_minor": tx["entries"][0]["balance_after_minor"],
                "replayed": False}

    return run_idempotent("purchase", principal, key,
                          {"account_id": account, "currency": currency, "amount_minor": amount,
                           "sku": sku}, now, commit)


@router.post("/api/payment/transfer")
async def transfer(request: Request):
    principal, now, body, key = await money_request(request)
    source = check_account(body.get("from_account"), "from_account")
    dest = check_account(body.get("to_account"), "to_account")
    if source == dest:
        raise invalid("to_account", "malformed")  # R31: the relation, on the later field
    currency = check_currency(body.get("currency"))
    amount = check_amount(body.get("amount_minor"))
    memo = check_text(body.get("memo"), "memo")
    if principal[0] == "player" and (source != principal[1] or dest == MINT):
        raise permission_denied("players transfer only from their own account and not to sys:mint")

    def commit():
        if currency == "SHD" and is_player(source) and is_player(dest):
            raise precondition("non_transferable", "SHD is not transferable between players")
        tx = apply(new_tx("transfer", principal, key, now, currency, amount, source, dest,
                          reason=memo))
        return {"tx_id": tx["tx_id"],
                "from_balance_minor": tx["entries"][0]["balance_after_minor"],
                "to_balance_minor": tx["entries"][1]["balance_after_minor"], "replayed": False}

    return run_idempotent("transfer", principal, key,
                          {"from_account": source, "to_account": dest, "currency": currency,
                           "amount_minor": amount, "memo": memo}, now, commit)


@router.post("/api/payment/refund")
async def refund(request: Request):
    principal, now, body, key = await money_request(request)
    tx_id = check_str(body.get("tx_id"), "tx_id", required=True)
    requested = check_amount(body.get("amount_minor"), lo=0)  # 0 = all remaining
    authorize_write(principal)  # rule 6: service/admin
    original = STATE.txs.get(tx_id)
    if original is None:
        raise not_found("tx_id", "transaction not found")

    def commit():
        # R33, in order.
        if original["kind"] == "refund":
            raise precondition("not_refundable", "refunds are not refundable")
        remaining = original["amount_minor"] - STATE.refunded.get(tx_id, 0)
        if remaining <= 0:
            raise precondition("already_refunded", "nothing left to refund")
        if requested > remaining:
            raise precondition("exceeds_original", "refund exceeds the original")
        amount = requested or remaining
        total = STATE.refunded.get(tx_id, 0) + amount
        # Rule 6: from the original destination back to its source.
        tx = apply(new_tx("refund", principal, key, now, original["currency"], amount,
                          original["to_account"], original["from_account"], original_tx_id=tx_id,
                          refunded_minor=total))
        STATE.refunded[tx_id] = total
        original["refunded_minor"] = total
        emit(SERVICE, "refund_issued", now, refund_tx_id=tx["tx_id"], original_tx_id=tx_id,
             amount_minor=amount)
        # balance_minor: the original non-sys party (transfers: from_account).
        party = original["from_account"]
        if original["kind"] != "transfer" and not is_bounded(party):
            party = original["to_account"]
        balance = next(e["balance_after_minor"] for e, account in
                       zip(tx["entries"], (tx["from_account"], tx["to_account"]))
                       if account == party)
        return {"refund_tx_id": tx["tx_id"], "refunded_total_minor": total,
                "balance_minor": balance, "replayed": False}

    return run_idempotent("refund", principal, key, {"tx_id": tx_id, "amount_minor": requested},
                          now, commit)


# ---------------------------------------------------------------------------------------------
# Fixture.


def load_fixture(doc, now):
    """Replaces all payment state: each listed wallet gets its balance and no entries."""
    state = State()
    for i, entry in enumerate(as_list(doc.get("wallets"), "wallets")):
        field = f"wallets[{i}]"
        entry = as_object(entry, field)
        account = check_account(entry.get("account_id"), f"{field}.account_id")
        currency = check_currency(entry.get("currency"), f"{field}.currency")
        lo, hi = (0, BALANCE_LIMIT) if is_bounded(account) else (-(2**63), 2**63 - 1)
        balance = as_int(entry.get("balance_minor"), f"{field}.balance_minor", lo, hi)
        state.wallets[(currency, account)] = {"balance": balance, "seq": 0}
    for currency in CURRENCIES:
        total = sum(w["balance"] for (c, _), w in state.wallets.items() if c == currency)
        if total != 0:
            if (currency, MINT) in state.wallets:
                raise invalid("wallets", "malformed")
            state.wallets[(currency, MINT)] = {"balance": -total, "seq": 0}
    global STATE
    STATE = state
    return {"wallets": len(state.wallets)}
