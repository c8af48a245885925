#pragma once
// story-teller (SERVICES.md §2.22, §4 N31, §6 ST1–ST12), the pure part: story and request field
// checks, the story graph walk (entering nodes, fate draws, the 16-entry limit), the session's
// stored form and its SessionView, the narration request, the `_fixture` mapping. No store, no
// loop, no calls: story_teller_service.cc does those.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ai_router/v1/ai_router.pb.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"
#include "story_teller/v1/story_teller.pb.h"

namespace sidecar::services::story_teller {

namespace pb = ::story_teller::v1;

inline constexpr std::string_view kServiceName = "story-teller";
inline constexpr std::string_view kStorePrefix = "story-teller/";
inline constexpr int kMaxNodes = 200;          // rule 1
inline constexpr int kMaxEdges = 6;            // rule 1: 1–6 choices or fate edges
inline constexpr size_t kMaxVars = 32;         // rule 2, ST5
inline constexpr int kMaxEntriesPerCall = 16;  // rule 3, ST8
inline constexpr std::string_view kNarrationTask = "story_narration";
inline constexpr std::string_view kNarrationVoice = "Narrate in a grim, restrained voice.";

// ---- stored state ----

// A story version: immutable once written (sessions pin it, rule 1), so replicas may cache it.
struct Story {
  std::string story_id;
  int64_t version = 0;
  std::string start_node;
  std::vector<pb::Node> nodes;
  const pb::Node* Find(std::string_view node_id) const;
};

struct Session {
  std::string session_id;
  std::string player_id;
  std::string story_id;
  int64_t story_version = 0;
  std::string seed;
  std::string node_id;
  int64_t step = 0;
  std::string status;  // active, finished
  std::map<std::string, int64_t> vars;
  std::map<std::string, int64_t> visits;
  std::vector<std::string> path;  // nodes entered by the latest start_session / choose (N31)
};

// Keys: the latest version of a story (the head), each older version, each session.
std::string StoryHeadKey(std::string_view story_id);
std::string StoryVersionKey(std::string_view story_id, int64_t version);
std::string SessionKey(std::string_view session_id);

std::string EncodeStory(const Story& story);
// `bytes` is EncodeStory's; the version comes from the key.
absl::StatusOr<Story> DecodeStory(std::string_view bytes, int64_t version);
std::string EncodeSession(const Session& session);
absl::StatusOr<Session> DecodeSession(std::string_view bytes);
// The head holds the latest version whole ("<version>\n" + EncodeStory): put_story is one
// compare-and-set of it. Before a put replaces version k, version k is copied to its own key, so
// sessions pinned to k keep reading it (rule 1: versions kept while referenced).
std::string EncodeHead(const Story& story);
absl::StatusOr<Story> DecodeHead(std::string_view bytes);

// ---- field checks, table order (§0.4) ----

// Rule 1, ST1–ST3: story_id, start_node, nodes (each node's fields, then its exactly-one of
// choices / fate / end), then the references (start_node, every next_node).
absl::Status CheckPutStory(const pb::PutStoryRequest& rq);
// ST5: player_id, story_id, seed, vars, perf_mode.
absl::Status CheckStartSession(const pb::StartSessionRequest& rq);
// session_id, choice_id, perf_mode.
absl::Status CheckChoose(const pb::ChooseRequest& rq);
absl::Status CheckGetSession(const pb::GetSessionRequest& rq);

// ---- the walk (rules 2–5) ----

// session_id = "ss_" + hex16(player_id + ":" + story_id) (rule 2).
std::string SessionIdFor(std::string_view player_id, std::string_view story_id);

// A fresh session on `story` (ST6: latest version, step 0, visits reset, vars = request vars)
// entering the start node (ST7). FAILED_PRECONDITION fate_chain_too_long past 16 entries.
absl::StatusOr<Session> StartSession(const Story& story, const pb::StartSessionRequest& rq);
// Rule 5 / ST9 after the principal check: finished -> stale_step -> NOT_FOUND choice_id ->
// requirement_not_met; then step +1 and entering the choice's next node.
absl::StatusOr<Session> Choose(const Story& story, Session session, const pb::ChooseRequest& rq);

// Rule 4.
bool ChoiceAvailable(const pb::Choice& choice, const std::map<std::string, int64_t>& vars);

// The SessionView (ST10), narration fields "".
pb::GetSessionResponse View(const Story& story, const Session& session);

// The narration call for the node the session rests on, if it narrates (rule 6, ST11).
std::optional<::ai_router::v1::RouteRequest> NarrationRequest(const Story& story,
                                                              const Session& session,
                                                              std::string_view perf_mode);

// ---- `_fixture` ({"stories": [...]}, README.md) ----

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext& ctx);

}  // namespace sidecar::services::story_teller
