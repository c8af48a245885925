// The thin binding of payment: typed handlers onto PaymentLogic, plus `_fixture`.
#include "services/payment/payment_service.h"

#include "services/common/fixtures.h"
#include "services/payment/payment_logic.h"

namespace sidecar::services {
namespace {

using namespace ::payment::v1;  // NOLINT: the message names of this service only
using payment::PaymentLogic;

class PaymentService final : public Service {
 public:
  explicit PaymentService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return payment::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<GetWalletRequest, GetWalletResponse>(
        "get_wallet", [this](const CallContext& ctx, GetWalletRequest rq, Done<GetWalletResponse> done) {
          logic_.GetWallet(ctx, rq, std::move(done));
        });
    r.Add<CreditRequest, CreditResponse>(
        "credit", [this](const CallContext& ctx, CreditRequest rq, Done<CreditResponse> done) {
          logic_.Credit(ctx, rq, std::move(done));
        });
    r.Add<PurchaseRequest, PurchaseResponse>(
        "purchase", [this](const CallContext& ctx, PurchaseRequest rq, Done<PurchaseResponse> done) {
          logic_.Purchase(ctx, rq, std::move(done));
        });
    r.Add<TransferRequest, TransferResponse>(
        "transfer", [this](const CallContext& ctx, TransferRequest rq, Done<TransferResponse> done) {
          logic_.Transfer(ctx, rq, std::move(done));
        });
    r.Add<RefundRequest, RefundResponse>(
        "refund", [this](const CallContext& ctx, RefundRequest rq, Done<RefundResponse> done) {
          logic_.Refund(ctx, rq, std::move(done));
        });
    r.Add<ListEntriesRequest, ListEntriesResponse>(
        "list_entries",
        [this](const CallContext& ctx, ListEntriesRequest rq, Done<ListEntriesResponse> done) {
          logic_.ListEntries(ctx, rq, std::move(done));
        });
    // The fixture replaces the ledger and the idempotency records (README.md).
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {"pay/", "_idem/payment/"},
                          &PaymentLogic::FixtureEntries);
  }

 private:
  ServiceDeps deps_;
  PaymentLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakePaymentService(const ServiceDeps& deps) {
  return std::make_unique<PaymentService>(deps);
}

}  // namespace sidecar::services
