#include "services/payment/payment_logic.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/pagination.h"
#include "services/common/strings_internal.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::payment {
namespace {

constexpr std::string_view kIdemClass = "A-Za-z0-9_.:-";  // §0.5 idempotency_key characters

absl::Status CheckIdempotencyKey(std::string_view key) {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 64;
  spec.char_class = kIdemClass;
  return CheckString("idempotency_key", key, spec);
}

absl::Status CheckCurrency(std::string_view currency) {
  StringSpec spec;
  spec.required = true;
  spec.allowed = {"GLD", "SHD"};
  return CheckString("currency", currency, spec);
}

// Accounts are an alternative-form syntax (R4): no length bounds, any syntax failure is
// `pattern`, and so is an account of the wrong class for the action (R35).
enum class AccountClass { kAny, kPlayerOrEscrow, kPlayer };
absl::Status CheckAccount(std::string_view field, std::string_view account, AccountClass cls) {
  if (account.empty()) return InvalidArgument(field, reason::kRequired);
  bool ok = IsValidAccount(account);
  if (ok && cls == AccountClass::kPlayerOrEscrow) ok = IsBounded(account);
  if (ok && cls == AccountClass::kPlayer) ok = IsPlayerAccount(account);
  return ok ? absl::OkStatus() : InvalidArgument(field, reason::kPattern);
}

absl::Status CheckText(std::string_view field, std::string_view text) {
  StringSpec spec;
  spec.max_len = 120;  // rule 1: reason/memo <= 120 chars
  return CheckString(field, text, spec);
}

// Player-scoped when the account names a player (§0.3, R7).
std::string_view PlayerOf(std::string_view account) {
  return IsPlayerAccount(account) ? account : std::string_view();
}

// Rule 2: tx_id = "tx_" + hex16(action ":" principal ":" idempotency_key).
std::string TxIdFor(std::string_view action, const CallContext& ctx, std::string_view key) {
  return DerivedId("tx", absl::StrCat(Av(action), ":", ctx.principal_string(), ":", Av(key)));
}

TxRec NewTx(const CallContext& ctx, std::string_view kind, std::string tx_id, std::string key,
            std::string currency, int64_t amount, std::string from, std::string to) {
  TxRec tx;
  tx.tx_id = std::move(tx_id);
  tx.kind = std::string(kind);
  tx.principal = ctx.principal_string();
  tx.idempotency_key = std::move(key);
  tx.currency = std::move(currency);
  tx.amount = amount;
  tx.from = std::move(from);
  tx.to = std::move(to);
  tx.created_at = ctx.now_ms();
  return tx;
}

absl::StatusOr<Book> BookOf(const std::optional<StoreEntry>& entry) {
  if (!entry.has_value()) return Book{};
  return DecodeBook(entry->value);
}

}  // namespace

PaymentLogic::PaymentLogic(StateStore& store, EventPublisher& events)
    : store_(store),
      events_(events),
      idempotency_(store, Idempotency::Options{.service = std::string(kServiceName),
                                               .retention_ms = std::nullopt}) {}  // rule 2: never expire

// ---- reads ----

void PaymentLogic::GetWallet(const CallContext& ctx, const v1::GetWalletRequest& rq,
                             Done<v1::GetWalletResponse> done) {
  absl::Status s = CheckAccount("account_id", rq.account_id(), AccountClass::kAny);
  if (s.ok()) s = CheckCurrency(rq.currency());
  if (s.ok()) s = ctx.AuthorizePlayer(PlayerOf(rq.account_id()), /*is_write=*/false);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  store_.Get(BookKey(rq.currency()), ctx.now_ms(),
             [rq, done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(done)(got.status());
                 return;
               }
               absl::StatusOr<Book> book = BookOf(*got);
               if (!book.ok()) {
                 std::move(done)(book.status());
                 return;
               }
               v1::GetWalletResponse r;
               r.set_account_id(rq.account_id());
               r.set_currency(rq.currency());
               auto it = book->wallets.find(rq.account_id());
               r.set_exists(it != book->wallets.end());  // rule 7: unknown wallets read as 0
               r.set_balance_minor(it == book->wallets.end() ? 0 : it->second.balance);
               std::move(done)(std::move(r));
             });
}

void PaymentLogic::ListEntries(const CallContext& ctx, const v1::ListEntriesRequest& rq,
                               Done<v1::ListEntriesResponse> done) {
  absl::Status s = CheckAccount("account_id", rq.account_id(), AccountClass::kAny);
  if (s.ok()) s = CheckCurrency(rq.currency());
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (s.ok() && !page_size.ok()) s = page_size.status();
  absl::StatusOr<std::optional<int64_t>> after = DecodeIntPageToken(rq.page_token());
  if (s.ok() && !after.ok()) s = after.status();
  if (s.ok()) s = ctx.AuthorizePlayer(PlayerOf(rq.account_id()), /*is_write=*/false);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  struct Reads {
    absl::StatusOr<std::optional<StoreEntry>> book = absl::UnknownError("unset");
    absl::StatusOr<std::vector<StoreEntry>> entries = absl::UnknownError("unset");
  };
  auto reads = std::make_shared<Reads>();
  auto barrier = Barrier::Create(
      2, [rq, reads, size = *page_size, after = *after,
          done = std::move(done)](absl::Status) mutable {
        if (!reads->book.ok()) return std::move(done)(reads->book.status());
        if (!reads->entries.ok()) return std::move(done)(reads->entries.status());
        absl::StatusOr<Book> book = BookOf(*reads->book);
        if (!book.ok()) return std::move(done)(book.status());
        auto wallet = book->wallets.find(rq.account_id());
        const int64_t head_seq = wallet == book->wallets.end() ? 0 : wallet->second.seq;
        // Materialised entries plus the book's last transaction (not yet materialised, see
        // ledger_model.h); anything above the wallet's committed seq is ignored.
        std::map<int64_t, EntryRec, std::greater<>> by_seq;
        for (const StoreEntry& stored : *reads->entries) {
          absl::StatusOr<EntryRec> e = DecodeEntry(stored.value);
          if (!e.ok()) return std::move(done)(e.status());
          if (e->seq >= 1 && e->seq <= head_seq) by_seq[e->seq] = std::move(*e);
        }
        if (book->last) {
          for (const EntryRec& e : book->last->entries) {
            if (e.account == rq.account_id() && e.seq <= head_seq) by_seq[e.seq] = e;
          }
        }
        std::vector<EntryRec> items;
        items.reserve(by_seq.size());
        for (auto& [seq, e] : by_seq) items.push_back(std::move(e));
        // Rule 7: entry_seq descending; the token is the page's last entry_seq.
        std::function<bool(const EntryRec&)> after_token;
        if (after.has_value()) after_token = [a = *after](const EntryRec& e) { return e.seq < a; };
        Page<EntryRec> page = Paginate<EntryRec>(
            std::move(items), size, after_token,
            [](const EntryRec& e) { return EncodePageToken(e.seq); });
        v1::ListEntriesResponse r;
        for (const EntryRec& e : page.items) {
          v1::Entry* out = r.add_entries();
          out->set_entry_seq(e.seq);
          out->set_tx_id(e.tx_id);
          out->set_kind(e.kind);
          out->set_amount_minor(e.amount);
          out->set_balance_after_minor(e.balance_after);
          out->set_created_at(e.created_at);
        }
        r.set_next_page_token(page.next_page_token);
        std::move(done)(std::move(r));
      });
  store_.Get(BookKey(rq.currency()), ctx.now_ms(),
             [reads, barrier](absl::StatusOr<std::optional<StoreEntry>> got) {
               reads->book = std::move(got);
               barrier->Arrive(absl::OkStatus());
             });
  store_.List(EntryPrefix(rq.currency(), rq.account_id()), ctx.now_ms(),
              [reads, barrier](absl::StatusOr<std::vector<StoreEntry>> got) {
                reads->entries = std::move(got);
                barrier->Arrive(absl::OkStatus());
              });
}

// ---- writes ----

void PaymentLogic::Credit(const CallContext& ctx, const v1::CreditRequest& rq,
                          Done<v1::CreditResponse> done) {
  absl::Status s = CheckIdempotencyKey(rq.idempotency_key());
  if (s.ok()) s = CheckAccount("account_id", rq.account_id(), AccountClass::kPlayerOrEscrow);
  if (s.ok()) s = CheckCurrency(rq.currency());
  if (s.ok()) s = CheckInt("amount_minor", rq.amount_minor(), 1, kMaxAmountMinor);
  if (s.ok()) s = CheckText("reason", rq.reason());
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 5: service/admin
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  std::string tx_id = TxIdFor("credit", ctx, rq.idempotency_key());
  Plan plan = [ctx, rq, tx_id](Book& book) -> absl::StatusOr<TxRec> {
    TxRec tx = NewTx(ctx, "credit", tx_id, rq.idempotency_key(), rq.currency(), rq.amount_minor(),
                     std::string(kMint), rq.account_id());
    tx.reason = rq.reason();
    RETURN_IF_ERROR(ApplyTransaction(book, tx));
    return tx;
  };
  RunTx<v1::CreditResponse>(
      ctx, "credit", rq.idempotency_key(), rq, rq.currency(), tx_id, std::move(plan),
      [](const TxRec& tx) {
        v1::CreditResponse r;
        r.set_tx_id(tx.tx_id);
        r.set_balance_minor(tx.entries[1].balance_after);
        return r;
      },
      std::move(done));
}

void PaymentLogic::Purchase(const CallContext& ctx, const v1::PurchaseRequest& rq,
                            Done<v1::PurchaseResponse> done) {
  absl::Status s = CheckIdempotencyKey(rq.idempotency_key());
  if (s.ok()) s = CheckAccount("account_id", rq.account_id(), AccountClass::kPlayer);
  if (s.ok()) s = CheckCurrency(rq.currency());
  if (s.ok()) s = CheckInt("amount_minor", rq.amount_minor(), 1, kMaxAmountMinor);
  if (s.ok()) {
    StringSpec sku;
    sku.required = true;
    sku.min_len = 1;
    sku.max_len = 64;
    sku.char_class = "a-z0-9_.-";
    s = CheckString("sku", rq.sku(), sku);
  }
  if (s.ok()) s = ctx.AuthorizePlayer(rq.account_id(), /*is_write=*/true);  // rule 5
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  std::string tx_id = TxIdFor("purchase", ctx, rq.idempotency_key());
  Plan plan = [ctx, rq, tx_id](Book& book) -> absl::StatusOr<TxRec> {
    TxRec tx = NewTx(ctx, "purchase", tx_id, rq.idempotency_key(), rq.currency(),
                     rq.amount_minor(), rq.account_id(), std::string(kSink));
    tx.sku = rq.sku();
    RETURN_IF_ERROR(ApplyTransaction(book, tx));
    return tx;
  };
  RunTx<v1::PurchaseResponse>(
      ctx, "purchase", rq.idempotency_key(), rq, rq.currency(), tx_id, std::move(plan),
      [](const TxRec& tx) {
        v1::PurchaseResponse r;
        r.set_tx_id(tx.tx_id);
        r.set_balance_minor(tx.entries[0].balance_after);
        return r;
      },
      std::move(done));
}

void PaymentLogic::Transfer(const CallContext& ctx, const v1::TransferRequest& rq,
                            Done<v1::TransferResponse> done) {
  absl::Status s = CheckIdempotencyKey(rq.idempotency_key());
  if (s.ok()) s = CheckAccount("from_account", rq.from_account(), AccountClass::kAny);
  if (s.ok()) s = CheckAccount("to_account", rq.to_account(), AccountClass::kAny);
  // Rule 5 / R31: the relation is reported on the later field.
  if (s.ok() && rq.to_account() == rq.from_account()) {
    s = InvalidArgument("to_account", reason::kMalformed);
  }
  if (s.ok()) s = CheckCurrency(rq.currency());
  if (s.ok()) s = CheckInt("amount_minor", rq.amount_minor(), 1, kMaxAmountMinor);
  if (s.ok()) s = CheckText("memo", rq.memo());
  if (s.ok() && ctx.principal() && ctx.principal()->is_player()) {
    // Rule 5: players send only from their own account, never to sys:mint.
    if (rq.from_account() != ctx.principal()->id || rq.to_account() == kMint) {
      s = PermissionDenied("players transfer only from their own account and not to sys:mint");
    }
  }
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  std::string tx_id = TxIdFor("transfer", ctx, rq.idempotency_key());
  Plan plan = [ctx, rq, tx_id](Book& book) -> absl::StatusOr<TxRec> {
    // Rule 5: SHD never moves between two players; checked before funds.
    if (rq.currency() == "SHD" && IsPlayerAccount(rq.from_account()) &&
        IsPlayerAccount(rq.to_account())) {
      return FailedPrecondition("non_transferable", {}, "SHD is not transferable between players");
    }
    TxRec tx = NewTx(ctx, "transfer", tx_id, rq.idempotency_key(), rq.currency(),
                     rq.amount_minor(), rq.from_account(), rq.to_account());
    tx.reason = rq.memo();
    RETURN_IF_ERROR(ApplyTransaction(book, tx));
    return tx;
  };
  RunTx<v1::TransferResponse>(
      ctx, "transfer", rq.idempotency_key(), rq, rq.currency(), tx_id, std::move(plan),
      [](const TxRec& tx) {
        v1::TransferResponse r;
        r.set_tx_id(tx.tx_id);
        r.set_from_balance_minor(tx.entries[0].balance_after);
        r.set_to_balance_minor(tx.entries[1].balance_after);
        return r;
      },
      std::move(done));
}

void PaymentLogic::Refund(const CallContext& ctx, const v1::RefundRequest& rq,
                          Done<v1::RefundResponse> done) {
  absl::Status s = CheckIdempotencyKey(rq.idempotency_key());
  if (s.ok() && rq.tx_id().empty()) s = InvalidArgument("tx_id", reason::kRequired);
  // Rule 1: 0 = all remaining.
  if (s.ok()) s = CheckInt("amount_minor", rq.amount_minor(), 0, kMaxAmountMinor);
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 6: service/admin
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  FindTx(ctx, rq.tx_id(),
         [this, ctx, rq, done = std::move(done)](
             absl::StatusOr<std::optional<TxRec>> found) mutable {
           if (!found.ok()) return std::move(done)(found.status());
           if (!found->has_value()) {
             return std::move(done)(NotFound("tx_id", "transaction not found"));
           }
           TxRec original = std::move(**found);
           std::string refund_tx_id = TxIdFor("refund", ctx, rq.idempotency_key());
           std::string currency = original.currency;
           Plan plan = [ctx, rq, original, refund_tx_id](Book& book) -> absl::StatusOr<TxRec> {
             ASSIGN_OR_RETURN(int64_t amount, RefundAmount(book, original, rq.amount_minor()));
             // Rule 6: from the original destination back to its source.
             TxRec tx = NewTx(ctx, "refund", refund_tx_id, rq.idempotency_key(),
                              original.currency, amount, original.to, original.from);
             tx.original_tx_id = original.tx_id;
             auto prior = book.refunded.find(original.tx_id);
             tx.refunded_total = (prior == book.refunded.end() ? 0 : prior->second) + amount;
             RETURN_IF_ERROR(ApplyTransaction(book, tx));
             book.refunded[original.tx_id] = tx.refunded_total;
             return tx;
           };
           const size_t party = RefundPartyEntry(original);
           RunTx<v1::RefundResponse>(
               ctx, "refund", rq.idempotency_key(), rq, currency, refund_tx_id, std::move(plan),
               [party](const TxRec& tx) {
                 v1::RefundResponse r;
                 r.set_refund_tx_id(tx.tx_id);
                 r.set_refunded_total_minor(tx.refunded_total);
                 r.set_balance_minor(tx.entries[party].balance_after);
                 return r;
               },
               std::move(done));
         });
}

// ---- the transaction machinery ----

template <typename Resp>
void PaymentLogic::RunTx(const CallContext& ctx, std::string_view action, const std::string& key,
                         const google::protobuf::Message& request, std::string currency,
                         std::string tx_id, Plan plan,
                         absl::AnyInvocable<Resp(const TxRec&) const> respond, Done<Resp> done) {
  auto shared_respond =
      std::make_shared<absl::AnyInvocable<Resp(const TxRec&) const>>(std::move(respond));
  idempotency_.Run<Resp>(
      ctx, action, key, request,
      [this, ctx, currency = std::move(currency), tx_id = std::move(tx_id),
       plan = std::move(plan), shared_respond](Done<Resp> body_done) mutable {
        Commit(ctx, std::move(currency), std::move(tx_id), std::move(plan),
               [this, ctx, shared_respond,
                body_done = std::move(body_done)](absl::StatusOr<Committed> c) mutable {
                 if (!c.ok()) return std::move(body_done)(c.status());
                 Resp r = (*shared_respond)(c->tx);
                 if (c->duplicate) {
                   // Committed by an earlier run whose response was never stored: answer it
                   // as the replay it is, with no second event.
                   r.set_replayed(true);
                 } else {
                   PublishCommitted(ctx, c->tx);
                 }
                 std::move(body_done)(std::move(r));
               });
      },
      [](Resp& r) { r.set_replayed(true); }, std::move(done));
}

void PaymentLogic::Commit(const CallContext& ctx, std::string currency, std::string tx_id,
                          Plan plan, Done<Committed> done) {
  auto shared_plan = std::make_shared<Plan>(std::move(plan));
  std::string book_key = BookKey(currency);
  book_queue_.Run(book_key, [this, ctx, currency = std::move(currency), tx_id = std::move(tx_id),
                             shared_plan, done = std::move(done)](KeyedQueue::Release release) mutable {
    CommitAttempt(ctx, std::move(currency), std::move(tx_id), shared_plan, 1,
                  [release = std::move(release),
                   done = std::move(done)](absl::StatusOr<Committed> r) mutable {
                    std::move(release)();
                    std::move(done)(std::move(r));
                  });
  });
}

void PaymentLogic::CommitAttempt(CallContext ctx, std::string currency, std::string tx_id,
                                 std::shared_ptr<Plan> plan, int attempt, Done<Committed> done) {
  struct Reads {
    absl::StatusOr<std::optional<StoreEntry>> book = absl::UnknownError("unset");
    absl::StatusOr<std::optional<StoreEntry>> tx = absl::UnknownError("unset");
  };
  auto reads = std::make_shared<Reads>();
  auto barrier = Barrier::Create(2, [this, ctx, currency, tx_id, plan, attempt, reads,
                                     done = std::move(done)](absl::Status) mutable {
    if (!reads->book.ok()) return std::move(done)(reads->book.status());
    if (!reads->tx.ok()) return std::move(done)(reads->tx.status());
    if (reads->tx->has_value()) {
      absl::StatusOr<TxRec> existing = DecodeTx((*reads->tx)->value);
      if (!existing.ok()) return std::move(done)(existing.status());
      return std::move(done)(Committed{std::move(*existing), true});
    }
    absl::StatusOr<Book> book = BookOf(*reads->book);
    if (!book.ok()) return std::move(done)(book.status());
    if (book->last && book->last->tx_id == tx_id) {
      return std::move(done)(Committed{*book->last, true});
    }
    const uint64_t revision = reads->book->has_value() ? (*reads->book)->revision : 0;
    Book next = *book;
    absl::StatusOr<TxRec> tx = (*plan)(next);
    if (!tx.ok()) return std::move(done)(tx.status());
    auto write_book = [this, ctx, currency, tx_id, plan, attempt, revision,
                       next_value = EncodeBook(next), tx = std::move(*tx),
                       done = std::move(done)](absl::Status materialized) mutable {
      if (!materialized.ok()) return std::move(done)(materialized);
      store_.CompareAndSet(
          BookKey(currency), std::move(next_value), revision, ctx.now_ms(), {},
          [this, ctx, currency, tx_id, plan, attempt, tx = std::move(tx),
           done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
            if (written.ok()) return std::move(done)(Committed{std::move(tx), false});
            if (!IsConflict(written.status())) return std::move(done)(written.status());
            // Another replica committed to this book first: re-read and re-plan.
            if (attempt >= kMaxCommitAttempts) {
              return std::move(done)(Unavailable("", {}, "ledger contention, retry"));
            }
            CommitAttempt(ctx, std::move(currency), std::move(tx_id), plan, attempt + 1,
                          std::move(done));
          });
    };
    // The previous `last` leaves the book with this write: make sure it lives on in its keys.
    if (book->last) {
      Materialize(*book->last, std::move(write_book));
    } else {
      write_book(absl::OkStatus());
    }
  });
  store_.Get(BookKey(currency), ctx.now_ms(),
             [reads, barrier](absl::StatusOr<std::optional<StoreEntry>> got) {
               reads->book = std::move(got);
               barrier->Arrive(absl::OkStatus());
             });
  store_.Get(TxKey(tx_id), ctx.now_ms(),
             [reads, barrier](absl::StatusOr<std::optional<StoreEntry>> got) {
               reads->tx = std::move(got);
               barrier->Arrive(absl::OkStatus());
             });
}

void PaymentLogic::Materialize(const TxRec& tx, absl::AnyInvocable<void(absl::Status) &&> done) {
  auto barrier = Barrier::Create(1 + static_cast<int>(tx.entries.size()), std::move(done));
  auto arrive = [barrier](absl::StatusOr<uint64_t> r) { barrier->Arrive(r.status()); };
  store_.Put(TxKey(tx.tx_id), EncodeTx(tx), {}, arrive);
  for (const EntryRec& e : tx.entries) {
    store_.Put(EntryKey(tx.currency, e.account, e.seq), EncodeEntry(e), {}, arrive);
  }
}

void PaymentLogic::FindTx(const CallContext& ctx, const std::string& tx_id,
                          Done<std::optional<TxRec>> done) {
  // Only derived ids can exist (rule 2); anything else is simply not found.
  if (!IsValidTxId(tx_id)) return std::move(done)(std::optional<TxRec>());
  store_.Get(
      TxKey(tx_id), ctx.now_ms(),
      [this, ctx, tx_id, done = std::move(done)](
          absl::StatusOr<std::optional<StoreEntry>> got) mutable {
        if (!got.ok()) return std::move(done)(got.status());
        if (got->has_value()) {
          absl::StatusOr<TxRec> tx = DecodeTx((*got)->value);
          if (!tx.ok()) return std::move(done)(tx.status());
          return std::move(done)(std::optional<TxRec>(std::move(*tx)));
        }
        // Not materialised yet: it can only be the `last` of one of the books.
        struct Reads {
          absl::StatusOr<std::optional<StoreEntry>> gld = absl::UnknownError("unset");
          absl::StatusOr<std::optional<StoreEntry>> shd = absl::UnknownError("unset");
        };
        auto reads = std::make_shared<Reads>();
        auto barrier =
            Barrier::Create(2, [reads, tx_id, done = std::move(done)](absl::Status) mutable {
              for (auto* r : {&reads->gld, &reads->shd}) {
                if (!r->ok()) return std::move(done)(r->status());
                absl::StatusOr<Book> book = BookOf(**r);
                if (!book.ok()) return std::move(done)(book.status());
                if (book->last && book->last->tx_id == tx_id) {
                  return std::move(done)(std::optional<TxRec>(*book->last));
                }
              }
              std::move(done)(std::optional<TxRec>());
            });
        store_.Get(BookKey("GLD"), ctx.now_ms(),
                   [reads, barrier](absl::StatusOr<std::optional<StoreEntry>> r) {
                     reads->gld = std::move(r);
                     barrier->Arrive(absl::OkStatus());
                   });
        store_.Get(BookKey("SHD"), ctx.now_ms(),
                   [reads, barrier](absl::StatusOr<std::optional<StoreEntry>> r) {
                     reads->shd = std::move(r);
                     barrier->Arrive(absl::OkStatus());
                   });
      });
}

void PaymentLogic::PublishCommitted(const CallContext& ctx, const TxRec& tx) {
  // Events follow the commit; a publish error does not undo it (event_publisher.h).
  v1::TransactionCommittedEvent committed;
  committed.set_tx_id(tx.tx_id);
  committed.set_kind(tx.kind);
  committed.set_currency(tx.currency);
  committed.set_amount_minor(tx.amount);
  committed.set_from_account(tx.from);
  committed.set_to_account(tx.to);
  absl::StatusOr<Event> event =
      MakeEvent(kServiceName, "transaction_committed",
                MakeEventId(kServiceName, "transaction_committed", tx.tx_id), ctx.now_ms(),
                committed);
  if (event.ok()) events_.Publish(std::move(*event), nullptr);
  if (tx.kind != "refund") return;
  v1::RefundIssuedEvent refund;
  refund.set_refund_tx_id(tx.tx_id);
  refund.set_original_tx_id(tx.original_tx_id);
  refund.set_amount_minor(tx.amount);
  event = MakeEvent(kServiceName, "refund_issued",
                    MakeEventId(kServiceName, "refund_issued", tx.tx_id), ctx.now_ms(), refund);
  if (event.ok()) events_.Publish(std::move(*event), nullptr);
}

// ---- fixtures ----

absl::StatusOr<std::vector<StoreEntry>> PaymentLogic::FixtureEntries(
    const google::protobuf::Struct& document, const CallContext& ctx) {
  nlohmann::json doc = StructToJson(document);
  std::map<std::string, Book> books;
  if (doc.contains("wallets") && !doc["wallets"].is_null()) {
    if (!doc["wallets"].is_array()) return InvalidArgument("wallets", reason::kType);
    for (size_t i = 0; i < doc["wallets"].size(); ++i) {
      const nlohmann::json& w = doc["wallets"][i];
      const std::string field = IndexField("wallets", i);
      if (!w.is_object()) return InvalidArgument(field, reason::kType);
      std::string account = w.value("account_id", "");
      std::string currency = w.value("currency", "");
      RETURN_IF_ERROR(CheckAccount(field + ".account_id", account, AccountClass::kAny));
      RETURN_IF_ERROR(CheckCurrency(currency).ok()
                          ? absl::OkStatus()
                          : InvalidArgument(field + ".currency", reason::kUnknownValue));
      const nlohmann::json& b = w.contains("balance_minor") ? w["balance_minor"] : nlohmann::json(0);
      if (!b.is_number() || b.get<double>() != static_cast<double>(static_cast<int64_t>(b.get<double>()))) {
        return InvalidArgument(field + ".balance_minor", reason::kType);
      }
      int64_t balance = static_cast<int64_t>(b.get<double>());
      if (IsBounded(account) && (balance < 0 || balance > kBalanceLimitMinor)) {
        return InvalidArgument(field + ".balance_minor", reason::kOutOfRange);
      }
      books[currency].wallets[account] = Wallet{balance, 0};
    }
  }
  std::vector<StoreEntry> entries;
  for (auto& [currency, book] : books) {
    // Rule 3: the fixture's book must balance too; unless sys:mint is given, it is the
    // counterpart of the issued balances (as if they had been credited).
    int64_t sum = 0;
    for (const auto& [account, w] : book.wallets) sum += w.balance;
    if (sum != 0) {
      if (book.wallets.count(std::string(kMint))) {
        return InvalidArgument("wallets", reason::kMalformed, "fixture wallets do not balance");
      }
      book.wallets[std::string(kMint)] = Wallet{-sum, 0};
    }
    StoreEntry e;
    e.key = BookKey(currency);
    e.value = EncodeBook(book);
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace sidecar::services::payment
