#include "services/auth/auth_service.h"

#include <string_view>
#include <utility>

#include "auth/v1/auth.pb.h"
#include "services/auth/auth_fixture.h"
#include "services/auth/auth_logic.h"
#include "services/auth/auth_rules.h"
#include "services/auth/auth_state.h"
#include "services/common/fixtures.h"

namespace sidecar::services {
namespace {

namespace pb = ::auth::v1;
using auth::AuthLogic;

// The thin binding: every action forwards to AuthLogic; nothing here decides anything.
class AuthService final : public Service {
 public:
  explicit AuthService(const ServiceDeps& deps)
      : store_(*deps.store),
        fixtures_enabled_(deps.fixtures_enabled),
        logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return auth::kServiceName; }

  void Register(HandlerRegistry& r) override {
    // register, login, validate and logout are public (§2.1): no principal needed.
    const MethodOptions kPublic{.is_public = true};
    r.Add<pb::RegisterRequest, pb::RegisterResponse>(
        "register",
        [this](const CallContext& ctx, pb::RegisterRequest rq, Done<pb::RegisterResponse> done) {
          logic_.Register(ctx, std::move(rq), std::move(done));
        },
        kPublic);
    r.Add<pb::LoginRequest, pb::LoginResponse>(
        "login",
        [this](const CallContext& ctx, pb::LoginRequest rq, Done<pb::LoginResponse> done) {
          logic_.Login(ctx, std::move(rq), std::move(done));
        },
        kPublic);
    r.Add<pb::ValidateRequest, pb::ValidateResponse>(
        "validate",
        [this](const CallContext& ctx, pb::ValidateRequest rq, Done<pb::ValidateResponse> done) {
          logic_.Validate(ctx, std::move(rq), std::move(done));
        },
        kPublic);
    r.Add<pb::LogoutRequest, pb::LogoutResponse>(
        "logout",
        [this](const CallContext& ctx, pb::LogoutRequest rq, Done<pb::LogoutResponse> done) {
          logic_.Logout(ctx, std::move(rq), std::move(done));
        },
        kPublic);
    r.Add<pb::ChangePasswordRequest, pb::ChangePasswordResponse>(
        "change_password", [this](const CallContext& ctx, pb::ChangePasswordRequest rq,
                                  Done<pb::ChangePasswordResponse> done) {
          logic_.ChangePassword(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, fixtures_enabled_, store_, {std::string(auth::kStatePrefix)},
                          [](const google::protobuf::Struct& document, const CallContext&) {
                            return auth::FixtureEntries(document);
                          });
  }

 private:
  StateStore& store_;
  bool fixtures_enabled_;
  AuthLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeAuthService(const ServiceDeps& deps) {
  return std::make_unique<AuthService>(deps);
}

}  // namespace sidecar::services
