#pragma once
// payment (SERVICES.md §2.3): the logic behind the binding. Each action runs the §0.4 checks in
// order (fields in table order -> PERMISSION_DENIED -> NOT_FOUND -> idempotency -> the rule's
// FAILED_PRECONDITIONs), then commits one compare-and-set on the currency's book (see
// ledger_model.h). No clock: *now* is the CallContext's. Never blocks: every store wait is a
// callback.

#include <cstdint>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "payment/v1/payment.pb.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/idempotency.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/common/async_util.h"
#include "services/payment/ledger_model.h"

namespace sidecar::services::payment {

// The proto package (payment.v1) is shadowed by this namespace.
namespace v1 = ::payment::v1;

inline constexpr std::string_view kServiceName = "payment";

class PaymentLogic {
 public:
  PaymentLogic(StateStore& store, EventPublisher& events);

  void GetWallet(const CallContext& ctx, const v1::GetWalletRequest& rq,
                 Done<v1::GetWalletResponse> done);
  void Credit(const CallContext& ctx, const v1::CreditRequest& rq, Done<v1::CreditResponse> done);
  void Purchase(const CallContext& ctx, const v1::PurchaseRequest& rq,
                Done<v1::PurchaseResponse> done);
  void Transfer(const CallContext& ctx, const v1::TransferRequest& rq,
                Done<v1::TransferResponse> done);
  void Refund(const CallContext& ctx, const v1::RefundRequest& rq, Done<v1::RefundResponse> done);
  void ListEntries(const CallContext& ctx, const v1::ListEntriesRequest& rq,
                   Done<v1::ListEntriesResponse> done);

  // The `_fixture` document (README.md) -> store entries.
  static absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(
      const google::protobuf::Struct& document, const CallContext& ctx);

  // Bounded compare-and-set attempts per transaction (only other replicas can conflict, since
  // this replica queues its own writers per book).
  static constexpr int kMaxCommitAttempts = 64;

 private:
  // The outcome of a commit: the transaction and whether it had already been committed by an
  // earlier run of the same (action, principal, key) (a replica that died before storing its
  // idempotent response): then its stored result is answered, not applied again.
  struct Committed {
    TxRec tx;
    bool duplicate = false;
  };
  // Builds the transaction against the current book (may fail with a rule's error). Called again
  // after every lost compare-and-set, on the re-read book.
  using Plan = absl::AnyInvocable<absl::StatusOr<TxRec>(Book& book)>;

  void Commit(const CallContext& ctx, std::string currency, std::string tx_id, Plan plan,
              Done<Committed> done);
  void CommitAttempt(CallContext ctx, std::string currency, std::string tx_id,
                     std::shared_ptr<Plan> plan, int attempt, Done<Committed> done);
  // Writes a committed transaction's record and entries to their own keys (idempotent).
  void Materialize(const TxRec& tx, absl::AnyInvocable<void(absl::Status) &&> done);
  // Finds a committed transaction: its key, else the `last` of either book.
  void FindTx(const CallContext& ctx, const std::string& tx_id,
              Done<std::optional<TxRec>> done);
  void PublishCommitted(const CallContext& ctx, const TxRec& tx);

  // The transaction-writing actions share this: idempotency, the commit, events.
  template <typename Resp>
  void RunTx(const CallContext& ctx, std::string_view action, const std::string& key,
             const google::protobuf::Message& request, std::string currency, std::string tx_id,
             Plan plan, absl::AnyInvocable<Resp(const TxRec&) const> respond, Done<Resp> done);

  StateStore& store_;
  EventPublisher& events_;
  Idempotency idempotency_;
  KeyedQueue book_queue_;
};

}  // namespace sidecar::services::payment
