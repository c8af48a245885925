#include "services/payment/ledger_model.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/strings_internal.h"
#include "services/common/validation.h"

namespace sidecar::services::payment {
namespace {

using nlohmann::json;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status Corrupt(std::string_view what) {
  return Internal(absl::StrCat("stored payment ", Av(what), " does not decode"));
}

// Checked int64 addition: the sys:* balances are unbounded by the spec but not by int64.
bool AddOverflows(int64_t a, int64_t b, int64_t& out) { return __builtin_add_overflow(a, b, &out); }

json EntryJson(const EntryRec& e) {
  return json{{"account", e.account}, {"seq", e.seq},         {"tx_id", e.tx_id},
              {"kind", e.kind},       {"amount", e.amount},   {"balance_after", e.balance_after},
              {"created_at", e.created_at}};
}

std::optional<EntryRec> EntryFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  EntryRec e;
  e.account = j.value("account", "");
  e.seq = j.value("seq", int64_t{0});
  e.tx_id = j.value("tx_id", "");
  e.kind = j.value("kind", "");
  e.amount = j.value("amount", int64_t{0});
  e.balance_after = j.value("balance_after", int64_t{0});
  e.created_at = j.value("created_at", int64_t{0});
  return e;
}

json TxJson(const TxRec& t) {
  json entries = json::array();
  for (const EntryRec& e : t.entries) entries.push_back(EntryJson(e));
  return json{{"tx_id", t.tx_id},
              {"kind", t.kind},
              {"principal", t.principal},
              {"idempotency_key", t.idempotency_key},
              {"currency", t.currency},
              {"amount", t.amount},
              {"from", t.from},
              {"to", t.to},
              {"sku", t.sku},
              {"reason", t.reason},
              {"original_tx_id", t.original_tx_id},
              {"created_at", t.created_at},
              {"refunded_total", t.refunded_total},
              {"entries", entries}};
}

std::optional<TxRec> TxFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  TxRec t;
  t.tx_id = j.value("tx_id", "");
  t.kind = j.value("kind", "");
  t.principal = j.value("principal", "");
  t.idempotency_key = j.value("idempotency_key", "");
  t.currency = j.value("currency", "");
  t.amount = j.value("amount", int64_t{0});
  t.from = j.value("from", "");
  t.to = j.value("to", "");
  t.sku = j.value("sku", "");
  t.reason = j.value("reason", "");
  t.original_tx_id = j.value("original_tx_id", "");
  t.created_at = j.value("created_at", int64_t{0});
  t.refunded_total = j.value("refunded_total", int64_t{0});
  if (j.contains("entries") && j["entries"].is_array()) {
    for (const json& e : j["entries"]) {
      std::optional<EntryRec> entry = EntryFromJson(e);
      if (!entry) return std::nullopt;
      t.entries.push_back(std::move(*entry));
    }
  }
  if (t.tx_id.empty() || t.entries.size() != 2) return std::nullopt;
  return t;
}

}  // namespace

bool IsPlayerAccount(std::string_view a) {
  return a.size() == 19 && StartsWith(a, "pl_") && IsLowerHex(a.substr(3));
}

bool IsEscrowAccount(std::string_view a) {
  if (!StartsWith(a, "escrow:")) return false;
  std::string_view id = a.substr(7);
  return !id.empty() && id.size() <= 64 && AllCharsIn(id, "A-Za-z0-9_.-");
}

bool IsValidAccount(std::string_view a) {
  return IsPlayerAccount(a) || IsEscrowAccount(a) || a == kMint || a == kSink;
}

bool IsValidTxId(std::string_view t) {
  return t.size() == 19 && StartsWith(t, "tx_") && IsLowerHex(t.substr(3));
}

absl::Status ApplyTransaction(Book& book, TxRec& tx) {
  Wallet from = book.wallets.count(tx.from) ? book.wallets.at(tx.from) : Wallet{};
  Wallet to = book.wallets.count(tx.to) ? book.wallets.at(tx.to) : Wallet{};
  // Rule 4, in its order: the debit first, then the credit's limit.
  if (IsBounded(tx.from) && from.balance - tx.amount < 0) {
    return FailedPrecondition("insufficient_funds",
                              {{"balance_minor", std::to_string(from.balance)},
                               {"required_minor", std::to_string(tx.amount)}},
                              "insufficient funds");
  }
  if (IsBounded(tx.to) && to.balance + tx.amount > kBalanceLimitMinor) {
    return FailedPrecondition("balance_limit", {{"account_id", tx.to}}, "balance limit exceeded");
  }
  int64_t from_after = 0, to_after = 0;
  if (AddOverflows(from.balance, -tx.amount, from_after) ||
      AddOverflows(to.balance, tx.amount, to_after)) {
    return Internal("ledger balance overflows int64");
  }
  // Rule 3: the book must balance after the write, else nothing is written.
  int64_t sum = 0;
  for (const auto& [account, wallet] : book.wallets) {
    int64_t balance = wallet.balance;
    if (account == tx.from) balance = from_after;
    if (account == tx.to) balance = to_after;
    if (AddOverflows(sum, balance, sum)) return Internal("ledger sum overflows int64");
  }
  if (!book.wallets.count(tx.from) && AddOverflows(sum, from_after, sum)) {
    return Internal("ledger sum overflows int64");
  }
  if (!book.wallets.count(tx.to) && AddOverflows(sum, to_after, sum)) {
    return Internal("ledger sum overflows int64");
  }
  if (sum != 0) return Internal(absl::StrCat("ledger ", tx.currency, " does not balance"));

  tx.entries.clear();
  tx.entries.push_back(EntryRec{tx.from, from.seq + 1, tx.tx_id, tx.kind, -tx.amount, from_after,
                                tx.created_at});
  tx.entries.push_back(
      EntryRec{tx.to, to.seq + 1, tx.tx_id, tx.kind, tx.amount, to_after, tx.created_at});
  book.wallets[tx.from] = Wallet{from_after, from.seq + 1};
  book.wallets[tx.to] = Wallet{to_after, to.seq + 1};
  book.last = tx;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RefundAmount(const Book& book, const TxRec& original, int64_t requested) {
  if (original.kind == "refund") {
    return FailedPrecondition("not_refundable", {}, "refunds are not refundable");
  }
  auto it = book.refunded.find(original.tx_id);
  const int64_t remaining = original.amount - (it == book.refunded.end() ? 0 : it->second);
  if (remaining <= 0) return FailedPrecondition("already_refunded", {}, "nothing left to refund");
  if (requested > remaining) {
    return FailedPrecondition("exceeds_original", {}, "refund exceeds the original");
  }
  return requested == 0 ? remaining : requested;
}

size_t RefundPartyEntry(const TxRec& original) {
  // The refund runs original.to -> original.from: entries [0] = original.to, [1] = original.from.
  if (original.kind == "transfer") return 1;           // from_account
  return IsBounded(original.from) ? 1 : 0;              // purchase: the player; credit: the account
}

std::string BookKey(std::string_view currency) { return absl::StrCat("pay/book/", Av(currency)); }
std::string TxKey(std::string_view tx_id) { return absl::StrCat("pay/tx/", Av(tx_id)); }
std::string EntryPrefix(std::string_view currency, std::string_view account) {
  return absl::StrCat("pay/e/", Av(currency), "/", Av(account), "/");
}
std::string EntryKey(std::string_view currency, std::string_view account, int64_t seq) {
  char padded[24];
  std::snprintf(padded, sizeof(padded), "%019lld", static_cast<long long>(seq));
  return absl::StrCat(EntryPrefix(currency, account), padded);
}

std::string EncodeBook(const Book& book) {
  json wallets = json::object();
  for (const auto& [account, w] : book.wallets) wallets[account] = json::array({w.balance, w.seq});
  json refunded = json::object();
  for (const auto& [tx_id, total] : book.refunded) refunded[tx_id] = total;
  return json{{"wallets", wallets},
              {"refunded", refunded},
              {"last", book.last ? TxJson(*book.last) : json(nullptr)}}
      .dump();
}

absl::StatusOr<Book> DecodeBook(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Corrupt("book");
  Book book;
  if (j.contains("wallets") && j["wallets"].is_object()) {
    for (const auto& [account, w] : j["wallets"].items()) {
      if (!w.is_array() || w.size() != 2 || !w[0].is_number_integer() ||
          !w[1].is_number_integer()) {
        return Corrupt("book wallet");
      }
      book.wallets[account] = Wallet{w[0].get<int64_t>(), w[1].get<int64_t>()};
    }
  }
  if (j.contains("refunded") && j["refunded"].is_object()) {
    for (const auto& [tx_id, total] : j["refunded"].items()) {
      if (!total.is_number_integer()) return Corrupt("book refund");
      book.refunded[tx_id] = total.get<int64_t>();
    }
  }
  if (j.contains("last") && !j["last"].is_null()) {
    std::optional<TxRec> last = TxFromJson(j["last"]);
    if (!last) return Corrupt("book last transaction");
    book.last = std::move(*last);
  }
  return book;
}

std::string EncodeTx(const TxRec& tx) { return TxJson(tx).dump(); }

absl::StatusOr<TxRec> DecodeTx(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::optional<TxRec> tx = TxFromJson(j);
  if (!tx) return Corrupt("transaction");
  return std::move(*tx);
}

std::string EncodeEntry(const EntryRec& e) { return EntryJson(e).dump(); }

absl::StatusOr<EntryRec> DecodeEntry(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::optional<EntryRec> e = EntryFromJson(j);
  if (!e) return Corrupt("entry");
  return std::move(*e);
}

}  // namespace sidecar::services::payment
