#include "services/performance_mode/performance_mode_logic.h"

#include <memory>
#include <utility>

#include "services/common/errors.h"
#include "services/performance_mode/performance_mode_store.h"
#include "sidecar/common/logging.h"

namespace sidecar::services::performance_mode {
namespace {

using Json = nlohmann::json;

// Rule 3: set_server_mode is admin only (services may tighten the §0.3 defaults).
absl::Status AuthorizeAdmin(const CallContext& ctx) {
  if (ctx.principal() && ctx.principal()->kind == Principal::Kind::kAdmin) return absl::OkStatus();
  return PermissionDenied("set_server_mode is admin only");
}

// What report_frame_stats decided, kept across a re-run edit (the last run is the committed one).
struct FrameOutcome {
  Reported before{Mode::kLow, false};
  Reported after{Mode::kLow, false};
  FrameStep step;
};

}  // namespace

void PerformanceModeLogic::Evaluate(const CallContext& ctx, pb::EvaluateRequest rq,
                                    Done<pb::EvaluateResponse> done) {
  absl::Status s = CheckEvaluate(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);  // PM1
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  LoadServerMode(store_, now, [this, now, rq = std::move(rq),
                               done = std::move(done)](absl::StatusOr<ServerMode> server) mutable {
    if (!server.ok()) {
      std::move(done)(server.status());
      return;
    }
    const int32_t score = Score(rq);
    const PlayerPerf perf = Evaluated(rq, score);  // PM10: overwrites any previous state
    JsonEdit edit = [perf](std::optional<Json>& doc) -> absl::StatusOr<bool> {
      doc = PlayerToJson(perf);
      return true;
    };
    std::string key = PlayerKey(rq.player_id());
    EditJson(store_, std::move(key), now, std::move(edit),
             [rq = std::move(rq), score, perf, server_mode = server->mode,
              done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
               if (!edited.ok()) {
                 std::move(done)(edited.status());
                 return;
               }
               const Reported reported = Report(perf.current, server_mode);
               pb::EvaluateResponse response;
               response.set_player_id(rq.player_id());
               response.set_score(score);
               response.set_device_cap(std::string(ModeName(perf.device_cap)));
               response.set_mode(std::string(ModeName(reported.mode)));
               response.set_server_mode(server_mode);
               *response.mutable_knobs() = KnobsFor(reported.mode, server_mode);
               std::move(done)(std::move(response));  // PM8: evaluate emits no event
             });
  });
}

void PerformanceModeLogic::ReportFrameStats(const CallContext& ctx, pb::ReportFrameStatsRequest rq,
                                            Done<pb::ReportFrameStatsResponse> done) {
  absl::Status s = CheckReportFrameStats(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);  // PM3 order
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  LoadServerMode(store_, now, [this, ctx, now, rq = std::move(rq),
                               done = std::move(done)](absl::StatusOr<ServerMode> server) mutable {
    if (!server.ok()) {
      std::move(done)(server.status());
      return;
    }
    auto outcome = std::make_shared<FrameOutcome>();
    JsonEdit edit = [avg_fps = rq.avg_fps(), server_mode = server->mode,
                     outcome](std::optional<Json>& doc) -> absl::StatusOr<bool> {
      if (!doc) return NotFound("player_id", "no evaluate for this player yet");
      absl::StatusOr<PlayerPerf> perf = PlayerFromJson(*doc);
      if (!perf.ok()) return perf.status();
      // PM7: decisions on the uncapped mode; the cap only shapes what is reported (N15).
      outcome->before = Report(perf->current, server_mode);
      outcome->step = ApplyFrameStats(*perf, avg_fps);
      outcome->after = Report(perf->current, server_mode);
      doc = PlayerToJson(*perf);
      return true;
    };
    std::string key = PlayerKey(rq.player_id());
    EditJson(store_, std::move(key), now, std::move(edit),
             [this, ctx, outcome, player_id = rq.player_id(),
              done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
               if (!edited.ok()) {
                 std::move(done)(edited.status());
                 return;
               }
               pb::ReportFrameStatsResponse response;
               response.set_mode(std::string(ModeName(outcome->after.mode)));
               response.set_previous_mode(std::string(ModeName(outcome->before.mode)));
               response.set_changed(outcome->step.changed);
               response.set_reason(std::string(outcome->step.reason));
               response.set_server_capped(outcome->after.server_capped);
               if (outcome->step.changed) {  // PM8: capped from/to, which may be equal
                 pb::PlayerModeChangedEvent event;
                 event.set_player_id(player_id);
                 event.set_from(response.previous_mode());
                 event.set_to(response.mode());
                 event.set_reason(response.reason());
                 Publish(ctx, "player_mode_changed",
                         player_id + ":" + std::to_string(edited->store_revision), event);
               }
               std::move(done)(std::move(response));
             });
  });
}

void PerformanceModeLogic::GetPlayerMode(const CallContext& ctx, pb::GetPlayerModeRequest rq,
                                         Done<pb::GetPlayerModeResponse> done) {
  absl::Status s = CheckPlayerId(rq.player_id());
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  const std::string player_id = rq.player_id();
  LoadPlayer(store_, player_id, now, [this, now, done = std::move(done)](
                                         absl::StatusOr<std::optional<PlayerPerf>> perf) mutable {
    if (!perf.ok()) {
      std::move(done)(perf.status());
      return;
    }
    if (!perf->has_value()) {
      std::move(done)(NotFound("player_id", "no evaluate for this player yet"));
      return;
    }
    LoadServerMode(store_, now, [perf = **perf, done = std::move(done)](
                                    absl::StatusOr<ServerMode> server) mutable {
      if (!server.ok()) {
        std::move(done)(server.status());
        return;
      }
      const Reported reported = Report(perf.current, server->mode);
      pb::GetPlayerModeResponse response;
      response.set_mode(std::string(ModeName(reported.mode)));
      response.set_device_cap(std::string(ModeName(perf.device_cap)));
      response.set_server_capped(reported.server_capped);
      *response.mutable_knobs() = KnobsFor(reported.mode, server->mode);
      std::move(done)(std::move(response));
    });
  });
}

void PerformanceModeLogic::SetServerMode(const CallContext& ctx, pb::SetServerModeRequest rq,
                                         Done<pb::SetServerModeResponse> done) {
  absl::Status s = CheckSetServerMode(rq);
  if (s.ok()) s = AuthorizeAdmin(ctx);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  auto previous = std::make_shared<std::string>();
  JsonEdit edit = [mode = rq.mode(), now, previous](std::optional<Json>& doc) -> absl::StatusOr<bool> {
    ServerMode server;  // PM4: normal before any set
    if (doc) {
      absl::StatusOr<ServerMode> stored = ServerModeFromJson(*doc);
      if (!stored.ok()) return stored.status();
      server = *stored;
    }
    *previous = server.mode;
    if (server.mode == mode) return false;  // PM5: same mode succeeds, no write, no event
    doc = ServerModeToJson(ServerMode{mode, now});
    return true;
  };
  EditJson(store_, std::string(kServerModeKey), now, std::move(edit),
           [this, ctx, previous, mode = rq.mode(),
            done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
             if (!edited.ok()) {
               std::move(done)(edited.status());
               return;
             }
             if (edited->changed) {
               pb::ServerModeChangedEvent event;
               event.set_mode(mode);
               event.set_previous(*previous);
               Publish(ctx, "server_mode_changed", std::to_string(edited->store_revision), event);
             }
             pb::SetServerModeResponse response;
             response.set_mode(mode);
             response.set_previous(*previous);
             std::move(done)(std::move(response));
           });
}

void PerformanceModeLogic::Publish(const CallContext& ctx, std::string_view event_name,
                                   const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("performance-mode: cannot build event", {{"event", event_name}});
    return;
  }
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("performance-mode: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::performance_mode
