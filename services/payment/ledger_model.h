#pragma once
// The payment ledger's stored model and its pure rules (SERVICES.md §2.3), with no store or loop:
// what a transaction does to a currency's book, the checks of rules 3, 4 and 6, and the JSON
// encodings of what is stored.
//
// Storage layout (one StateStore, keys under "pay/"):
//   pay/book/<currency>               Book: every wallet of the currency (balance, entry_seq), the
//                                     cumulative refunds per refunded tx, and the last committed
//                                     transaction in full. The ONE key a transaction writes, with
//                                     compare-and-set: rule 3's atomic two-entry write and the
//                                     "sum of balances is 0" check are then a single-key update,
//                                     serializable across replicas without locks.
//   pay/tx/<tx_id>                    TxRec, immutable once written (refund totals live in the book).
//   pay/e/<currency>/<account>/<seq>  EntryRec, immutable; seq zero-padded to 19 digits so keys
//                                     sort by seq.
// Materialisation: a transaction's TxRec and entries are first only in its book's `last`; the
// next writer of that book writes them to their own keys BEFORE its compare-and-set replaces
// `last` (idempotent Puts: the content is fixed once committed). So every committed transaction
// is always either `last` or materialised, even if a replica dies at any point; readers merge both.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sidecar::services::payment {

inline constexpr int64_t kMaxAmountMinor = 1'000'000'000'000;         // rule 1: 1-10^12
inline constexpr int64_t kBalanceLimitMinor = 1'000'000'000'000'000;  // rule 4: 10^15
inline constexpr std::string_view kMint = "sys:mint";
inline constexpr std::string_view kSink = "sys:sink";

// Rule 1 / R32: pl_ + 16 lowercase hex, sys:mint, sys:sink, escrow:[A-Za-z0-9_.-]{1,64}.
bool IsValidAccount(std::string_view account);
bool IsPlayerAccount(std::string_view account);
bool IsEscrowAccount(std::string_view account);
// pl_* and escrow:* balances are bounded (0..10^15, rule 4); sys:* are not.
inline bool IsBounded(std::string_view account) {
  return IsPlayerAccount(account) || IsEscrowAccount(account);
}
bool IsValidTxId(std::string_view tx_id);  // tx_ + 16 lowercase hex (rule 2)

struct EntryRec {
  std::string account;
  int64_t seq = 0;
  std::string tx_id;
  std::string kind;
  int64_t amount = 0;  // signed: -a on the debited account, +a on the credited one
  int64_t balance_after = 0;
  int64_t created_at = 0;
};

struct TxRec {
  std::string tx_id;
  std::string kind;  // credit | purchase | transfer | refund
  std::string principal;
  std::string idempotency_key;
  std::string currency;
  int64_t amount = 0;
  std::string from;
  std::string to;
  std::string sku;
  std::string reason;  // credit reason / transfer memo
  std::string original_tx_id;
  int64_t created_at = 0;
  // Refunds only: the original's cumulative refunds including this one (the response's
  // refunded_total_minor, kept so a recovered duplicate can answer it again).
  int64_t refunded_total = 0;
  // [debit entry of `from`, credit entry of `to`], filled when applied.
  std::vector<EntryRec> entries;
};

struct Wallet {
  int64_t balance = 0;
  int64_t seq = 0;  // entry_seq of the account's latest entry (rule 3: counts from 1)
};

struct Book {
  std::map<std::string, Wallet> wallets;
  std::map<std::string, int64_t> refunded;  // original tx_id -> cumulative refunds
  std::optional<TxRec> last;
};

// Applies `tx` (from, to, amount, kind, tx_id, created_at set) to `book`: rule 4 checks in order
// (insufficient_funds on a bounded debit, then balance_limit on a bounded credit), both entries
// with their entry_seq, and rule 3's invariant (the currency's balances sum to 0, no int64
// overflow) -> INTERNAL with `book` untouched. Sets book.last = tx.
absl::Status ApplyTransaction(Book& book, TxRec& tx);

// Rule 6 before funds: not_refundable, already_refunded, exceeds_original. Returns the amount to
// refund (0 requested = all remaining).
absl::StatusOr<int64_t> RefundAmount(const Book& book, const TxRec& original, int64_t requested);

// The original's non-sys party whose balance a refund reports (rule 6; transfers: from_account),
// as the index into the refund's entries.
size_t RefundPartyEntry(const TxRec& original);

std::string BookKey(std::string_view currency);
std::string TxKey(std::string_view tx_id);
std::string EntryPrefix(std::string_view currency, std::string_view account);
std::string EntryKey(std::string_view currency, std::string_view account, int64_t seq);

std::string EncodeBook(const Book& book);
absl::StatusOr<Book> DecodeBook(std::string_view text);
std::string EncodeTx(const TxRec& tx);
absl::StatusOr<TxRec> DecodeTx(std::string_view text);
std::string EncodeEntry(const EntryRec& e);
absl::StatusOr<EntryRec> DecodeEntry(std::string_view text);

}  // namespace sidecar::services::payment
