// story-teller (SERVICES.md §2.22): the four actions over the StateStore in §0.4 / ST6 / ST9
// order, the ai-router narration call (rule 6, ST11), events (ST12), `_fixture`. The pure rules
// live in story_teller_rules.{h,cc}.
#include "services/story_teller/story_teller_service.h"

#include <memory>
#include <string>
#include <utility>

#include "ai_router/v1/ai_router.pb.h"
#include "services/common/async_util.h"
#include "services/common/dependency_client.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/story_teller/story_teller_rules.h"

namespace sidecar::services {
namespace {

namespace st = story_teller;
namespace pb = ::story_teller::v1;
namespace router = ::ai_router::v1;

// Bounded re-reads after a lost compare-and-set (another replica wrote the key first).
constexpr int kMaxAttempts = 8;

// A stored entry as read: absent, or its value and revision.
struct Read {
  std::optional<std::string> value;
  uint64_t revision = 0;
};

// What start_session / choose hand to the finishing step.
struct Outcome {
  st::Story story;
  st::Session session;
  uint64_t revision = 0;  // the session's new store revision (event ids)
  bool started = false;   // start_session: emit session_started
};

// The SessionView messages share field numbers, so one converts into the others by bytes.
template <typename To>
To ViewAs(const pb::GetSessionResponse& view) {
  To out;
  out.ParseFromString(view.SerializeAsString());
  return out;
}

class StoryTellerService final : public Service {
 public:
  explicit StoryTellerService(const ServiceDeps& deps) : deps_(deps) {}

  std::string_view name() const override { return st::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutStoryRequest, pb::PutStoryResponse>(
        "put_story",
        [this](const CallContext& ctx, pb::PutStoryRequest rq, Done<pb::PutStoryResponse> done) {
          PutStory(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::StartSessionRequest, pb::StartSessionResponse>(
        "start_session", [this](const CallContext& ctx, pb::StartSessionRequest rq,
                                Done<pb::StartSessionResponse> done) {
          StartSession(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ChooseRequest, pb::ChooseResponse>(
        "choose",
        [this](const CallContext& ctx, pb::ChooseRequest rq, Done<pb::ChooseResponse> done) {
          Choose(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetSessionRequest, pb::GetSessionResponse>(
        "get_session", [this](const CallContext& ctx, pb::GetSessionRequest rq,
                              Done<pb::GetSessionResponse> done) {
          GetSession(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {std::string(st::kStorePrefix)},
                          &st::MapFixture);
  }

 private:
  // ---- put_story (rule 1, ST1–ST4): fields -> service/admin -> one head compare-and-set ----
  void PutStory(const CallContext& ctx, pb::PutStoryRequest rq, Done<pb::PutStoryResponse> done) {
    absl::Status s = st::CheckPutStory(rq);
    if (s.ok()) s = ctx.AuthorizeWrite();
    if (!s.ok()) return std::move(done)(s);
    auto story = std::make_shared<st::Story>();
    story->story_id = rq.story_id();
    story->start_node = rq.start_node();
    story->nodes.assign(rq.nodes().begin(), rq.nodes().end());
    // Puts of one story on this replica queue; other replicas' races re-read (bounded).
    queue_.Run(st::StoryHeadKey(rq.story_id()),
               [this, ctx, story, done = std::move(done)](KeyedQueue::Release release) mutable {
                 PutStoryAttempt(ctx, story, 1,
                                 [done = std::move(done), release = std::move(release)](
                                     absl::StatusOr<pb::PutStoryResponse> r) mutable {
                                   std::move(release)();
                                   std::move(done)(std::move(r));
                                 });
               });
  }

  void PutStoryAttempt(const CallContext& ctx, std::shared_ptr<st::Story> story, int attempt,
                       Done<pb::PutStoryResponse> done) {
    const std::string head_key = st::StoryHeadKey(story->story_id);
    GetEntry(
        head_key, ctx,
        [this, ctx, story, attempt, head_key,
         done = std::move(done)](absl::StatusOr<Read> head) mutable {
          if (!head.ok()) return std::move(done)(head.status());
          std::optional<st::Story> previous;
          if (head->value.has_value()) {
            absl::StatusOr<st::Story> decoded = st::DecodeHead(*head->value);
            if (!decoded.ok()) return std::move(done)(decoded.status());
            previous = std::move(*decoded);
          }
          story->version =
              previous.has_value() ? previous->version + 1 : 1;  // ST4: +1, even identical
          auto commit = [this, ctx, story, attempt, head_key, revision = head->revision,
                         done = std::move(done)](absl::Status copied) mutable {
            if (!copied.ok()) return std::move(done)(copied);
            deps_.store->CompareAndSet(
                head_key, st::EncodeHead(*story), revision, ctx.now_ms(), {},
                [this, ctx, story, attempt,
                 done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
                  if (!w.ok() && IsConflict(w.status()) && attempt < kMaxAttempts) {
                    return PutStoryAttempt(ctx, story, attempt + 1, std::move(done));
                  }
                  if (!w.ok()) {
                    return std::move(done)(
                        IsConflict(w.status()) ? Unavailable("", {}, "contention") : w.status());
                  }
                  // The new version's own copy too, so pinned reads need not fall back to the head.
                  deps_.store->Put(
                      st::StoryVersionKey(story->story_id, story->version), st::EncodeStory(*story),
                      {}, [story, done = std::move(done)](absl::StatusOr<uint64_t>) mutable {
                        pb::PutStoryResponse out;
                        out.set_story_id(story->story_id);
                        out.set_version(story->version);
                        std::move(done)(std::move(out));
                      });
                });
          };
          if (!previous.has_value()) return commit(absl::OkStatus());
          // Keep the version being replaced readable under its own key (sessions pin it).
          deps_.store->Put(st::StoryVersionKey(previous->story_id, previous->version),
                           st::EncodeStory(*previous), {},
                           [commit = std::move(commit)](absl::StatusOr<uint64_t> w) mutable {
                             commit(w.status());
                           });
        });
  }

  // ---- start_session (rule 2–3, ST5–ST8): fields -> player scope -> NOT_FOUND story_id ->
  // ALREADY_EXISTS session_id -> fate_chain_too_long -> compare-and-set -> events -> narration ----
  void StartSession(const CallContext& ctx, pb::StartSessionRequest rq,
                    Done<pb::StartSessionResponse> done) {
    absl::Status s = st::CheckStartSession(rq);
    if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);
    if (!s.ok()) return std::move(done)(s);
    auto request = std::make_shared<pb::StartSessionRequest>(std::move(rq));
    StartAttempt(ctx, request, 1,
                 [this, ctx, request, done = std::move(done)](absl::StatusOr<Outcome> o) mutable {
                   if (!o.ok()) return std::move(done)(o.status());
                   Finish<pb::StartSessionResponse>(ctx, std::move(*o), request->perf_mode(),
                                                    std::move(done));
                 });
  }

  void StartAttempt(const CallContext& ctx, std::shared_ptr<pb::StartSessionRequest> rq,
                    int attempt, Done<Outcome> done) {
    GetEntry(
        st::StoryHeadKey(rq->story_id()), ctx,
        [this, ctx, rq, attempt, done = std::move(done)](absl::StatusOr<Read> head) mutable {
          if (!head.ok()) return std::move(done)(head.status());
          if (!head->value.has_value())
            return std::move(done)(NotFound("story_id", "unknown story"));
          absl::StatusOr<st::Story> story = st::DecodeHead(*head->value);
          if (!story.ok()) return std::move(done)(story.status());
          const std::string key = st::SessionKey(st::SessionIdFor(rq->player_id(), rq->story_id()));
          GetEntry(
              key, ctx,
              [this, ctx, rq, attempt, key, story = std::move(*story),
               done = std::move(done)](absl::StatusOr<Read> current) mutable {
                if (!current.ok()) return std::move(done)(current.status());
                if (current->value.has_value() && !rq->restart()) {
                  absl::StatusOr<st::Session> existing = st::DecodeSession(*current->value);
                  if (!existing.ok()) return std::move(done)(existing.status());
                  // ST6: an active session needs `restart`; a finished one is replaced (N31).
                  if (existing->status == "active") {
                    return std::move(done)(AlreadyExists("session_id", "session already active"));
                  }
                }
                absl::StatusOr<st::Session> session = st::StartSession(story, *rq);
                if (!session.ok()) return std::move(done)(session.status());  // ST7: nothing saved
                Outcome outcome{std::move(story), std::move(*session), 0, true};
                Commit(ctx, key, current->revision, std::move(outcome),
                       [this, ctx, rq, attempt,
                        done = std::move(done)](absl::StatusOr<Outcome> o) mutable {
                         if (!o.ok() && IsConflict(o.status()) && attempt < kMaxAttempts) {
                           return StartAttempt(ctx, rq, attempt + 1, std::move(done));
                         }
                         std::move(done)(std::move(o));
                       });
              });
        });
  }

  // ---- choose (rule 3–5, ST9) ----
  void Choose(const CallContext& ctx, pb::ChooseRequest rq, Done<pb::ChooseResponse> done) {
    if (absl::Status s = st::CheckChoose(rq); !s.ok()) return std::move(done)(s);
    auto request = std::make_shared<pb::ChooseRequest>(std::move(rq));
    ChooseAttempt(ctx, request, 1,
                  [this, ctx, request, done = std::move(done)](absl::StatusOr<Outcome> o) mutable {
                    if (!o.ok()) return std::move(done)(o.status());
                    Finish<pb::ChooseResponse>(ctx, std::move(*o), request->perf_mode(),
                                               std::move(done));
                  });
  }

  void ChooseAttempt(const CallContext& ctx, std::shared_ptr<pb::ChooseRequest> rq, int attempt,
                     Done<Outcome> done) {
    const std::string key = st::SessionKey(rq->session_id());
    LoadSession(
        ctx, key,
        [this, ctx, rq, attempt, key,
         done = std::move(done)](absl::StatusOr<std::pair<st::Session, uint64_t>> loaded) mutable {
          if (!loaded.ok()) return std::move(done)(loaded.status());
          st::Session session = std::move(loaded->first);
          const uint64_t revision = loaded->second;
          // Copied first: the continuation below takes `session` by move.
          const std::string story_id = session.story_id;
          const int64_t version = session.story_version;
          LoadStory(ctx, story_id, version,
                    [this, ctx, rq, attempt, key, revision, session = std::move(session),
                     done = std::move(done)](absl::StatusOr<st::Story> story) mutable {
                      if (!story.ok()) return std::move(done)(story.status());
                      absl::StatusOr<st::Session> next =
                          st::Choose(*story, std::move(session), *rq);
                      if (!next.ok()) return std::move(done)(next.status());
                      Outcome outcome{std::move(*story), std::move(*next), 0, false};
                      Commit(ctx, key, revision, std::move(outcome),
                             [this, ctx, rq, attempt,
                              done = std::move(done)](absl::StatusOr<Outcome> o) mutable {
                               // A lost race re-reads: the winner's step makes this one stale_step.
                               if (!o.ok() && IsConflict(o.status()) && attempt < kMaxAttempts) {
                                 return ChooseAttempt(ctx, rq, attempt + 1, std::move(done));
                               }
                               std::move(done)(std::move(o));
                             });
                    });
        });
  }

  // ---- get_session (ST9, ST10): never narrates ----
  void GetSession(const CallContext& ctx, pb::GetSessionRequest rq,
                  Done<pb::GetSessionResponse> done) {
    if (absl::Status s = st::CheckGetSession(rq); !s.ok()) return std::move(done)(s);
    LoadSession(
        ctx, st::SessionKey(rq.session_id()),
        [this, ctx,
         done = std::move(done)](absl::StatusOr<std::pair<st::Session, uint64_t>> loaded) mutable {
          if (!loaded.ok()) return std::move(done)(loaded.status());
          st::Session session = std::move(loaded->first);
          const std::string story_id = session.story_id;
          const int64_t version = session.story_version;
          LoadStory(ctx, story_id, version,
                    [session, done = std::move(done)](absl::StatusOr<st::Story> story) mutable {
                      if (!story.ok()) return std::move(done)(story.status());
                      std::move(done)(st::View(*story, session));
                    });
        });
  }

  // ---- shared steps ----

  // The session (absent -> NOT_FOUND session_id), then the principal (ST9): a player other than
  // the session's -> PERMISSION_DENIED.
  void LoadSession(const CallContext& ctx, const std::string& key,
                   Done<std::pair<st::Session, uint64_t>> done) {
    GetEntry(key, ctx, [ctx, done = std::move(done)](absl::StatusOr<Read> got) mutable {
      if (!got.ok()) return std::move(done)(got.status());
      if (!got->value.has_value())
        return std::move(done)(NotFound("session_id", "unknown session"));
      absl::StatusOr<st::Session> session = st::DecodeSession(*got->value);
      if (!session.ok()) return std::move(done)(session.status());
      if (absl::Status s = ctx.AuthorizePlayer(session->player_id, /*is_write=*/false); !s.ok()) {
        return std::move(done)(s);
      }
      std::move(done)(std::make_pair(std::move(*session), got->revision));
    });
  }

  // The pinned version: its own key, or the head while it is still the latest.
  void LoadStory(const CallContext& ctx, const std::string& story_id, int64_t version,
                 Done<st::Story> done) {
    GetEntry(
        st::StoryVersionKey(story_id, version), ctx,
        [this, ctx, story_id, version, done = std::move(done)](absl::StatusOr<Read> got) mutable {
          if (!got.ok()) return std::move(done)(got.status());
          if (got->value.has_value()) return std::move(done)(st::DecodeStory(*got->value, version));
          GetEntry(st::StoryHeadKey(story_id), ctx,
                   [version, done = std::move(done)](absl::StatusOr<Read> head) mutable {
                     if (!head.ok()) return std::move(done)(head.status());
                     if (head->value.has_value()) {
                       absl::StatusOr<st::Story> story = st::DecodeHead(*head->value);
                       if (!story.ok() || story->version == version) {
                         return std::move(done)(std::move(story));
                       }
                     }
                     std::move(done)(Internal("the session's story version is gone"));
                   });
        });
  }

  // Compare-and-set of the session; a lost race arrives as the store's conflict status.
  void Commit(const CallContext& ctx, const std::string& key, uint64_t revision, Outcome outcome,
              Done<Outcome> done) {
    std::string value = st::EncodeSession(outcome.session);
    deps_.store->CompareAndSet(
        key, std::move(value), revision, ctx.now_ms(), {},
        [outcome = std::move(outcome), done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
          if (!w.ok()) return std::move(done)(w.status());  // callers retry a conflict
          outcome.revision = *w;
          std::move(done)(std::move(outcome));
        });
  }

  // After the commit: events (ST12), then the narration call (rule 6, ST11), then the view.
  template <typename Resp>
  void Finish(const CallContext& ctx, Outcome outcome, const std::string& perf_mode,
              Done<Resp> done) {
    const st::Session& s = outcome.session;
    const std::string material = s.session_id + ":" + std::to_string(outcome.revision);
    if (outcome.started) {
      pb::SessionStartedEvent started;
      started.set_session_id(s.session_id);
      started.set_story_id(s.story_id);
      started.set_player_id(s.player_id);
      Publish(ctx, "session_started", material, started);
    }
    if (s.status == "finished") {
      pb::SessionFinishedEvent finished;
      finished.set_session_id(s.session_id);
      finished.set_node_id(s.node_id);
      Publish(ctx, "session_finished", material, finished);
    }
    auto view = std::make_shared<pb::GetSessionResponse>(st::View(outcome.story, s));
    std::optional<router::RouteRequest> narration =
        st::NarrationRequest(outcome.story, s, perf_mode);
    if (!narration.has_value()) return std::move(done)(ViewAs<Resp>(*view));
    CallDependency<router::RouteResponse>(
        *deps_.dependencies, ctx, "ai-router", "route", *narration,
        [view, done = std::move(done)](absl::StatusOr<router::RouteResponse> r) mutable {
          // ST11: errors are non-fatal; the code names them. Narration is not stored.
          if (r.ok()) {
            view->set_narration(r->text());
          } else {
            view->set_narration_error(ToErrorProto(r.status()).code());
          }
          std::move(done)(ViewAs<Resp>(*view));
        });
  }

  void GetEntry(const std::string& key, const CallContext& ctx, Done<Read> done) {
    deps_.store->Get(
        key, ctx.now_ms(),
        [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
          if (!got.ok()) return std::move(done)(got.status());
          Read read;
          if (got->has_value()) {
            read.value = std::move((*got)->value);
            read.revision = (*got)->revision;
          }
          std::move(done)(std::move(read));
        });
  }

  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event) {
    absl::StatusOr<Event> built =
        MakeEvent(st::kServiceName, event_name, MakeEventId(st::kServiceName, event_name, material),
                  ctx.now_ms(), event);
    // After the commit; a publish error does not undo it (event_publisher.h).
    if (built.ok()) deps_.events->Publish(std::move(*built), nullptr);
  }

  ServiceDeps deps_;
  KeyedQueue queue_;
};

}  // namespace

std::unique_ptr<Service> MakeStoryTellerService(const ServiceDeps& deps) {
  return std::make_unique<StoryTellerService>(deps);
}

}  // namespace sidecar::services
