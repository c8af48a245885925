#include "services/story_teller/story_teller_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::story_teller {
namespace {

using Json = nlohmann::json;

const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

const std::vector<std::string_view>& PerfModes() {  // §2.8
  static const auto* v = new std::vector<std::string_view>{"low", "balanced", "high", "ultra"};
  return *v;
}

StringSpec StoryIdSpec() {
  return {.required = true, .min_len = 1, .max_len = 48, .char_class = "a-z0-9-"};
}
StringSpec NodeIdSpec() {
  return {.required = true, .min_len = 1, .max_len = 48, .char_class = "a-z0-9_"};
}
StringSpec VarNameSpec() { return {.min_len = 1, .max_len = 32, .char_class = "a-z_"}; }

// A map of variable names (effects, vars): the count, then names in key order, "" -> too_short.
template <typename Map>
absl::Status CheckVarMap(const std::string& field, const Map& map) {
  RETURN_IF_ERROR(CheckCount(field, map.size(), {.max = kMaxVars}));
  std::set<std::string> names;
  for (const auto& [name, value] : map) names.insert(name);
  for (const std::string& name : names) {
    const std::string path = KeyField(field, name);
    if (name.empty()) return InvalidArgument(path, reason::kTooShort);
    RETURN_IF_ERROR(CheckString(path, name, VarNameSpec()));
  }
  return absl::OkStatus();
}

absl::Status CheckNode(const pb::Node& node, const std::string& p, std::set<std::string>& ids) {
  RETURN_IF_ERROR(CheckString(p + ".node_id", node.node_id(), NodeIdSpec()));
  if (!ids.insert(node.node_id()).second) {
    return InvalidArgument(p + ".node_id", reason::kMalformed);  // ST2: the later duplicate
  }
  RETURN_IF_ERROR(CheckString(p + ".text", node.text(), {.max_len = 2000}));
  RETURN_IF_ERROR(CheckVarMap(p + ".effects", node.effects()));
  RETURN_IF_ERROR(CheckCount(p + ".choices", node.choices_size(), {.max = kMaxEdges}));
  std::set<std::string> choice_ids;
  for (int j = 0; j < node.choices_size(); ++j) {
    const pb::Choice& c = node.choices(j);
    const std::string q = IndexField(p + ".choices", j);
    RETURN_IF_ERROR(CheckString(q + ".choice_id", c.choice_id(), NodeIdSpec()));
    if (!choice_ids.insert(c.choice_id()).second) {
      return InvalidArgument(q + ".choice_id", reason::kMalformed);
    }
    RETURN_IF_ERROR(
        CheckString(q + ".label", c.label(), {.required = true, .min_len = 1, .max_len = 200}));
    RETURN_IF_ERROR(CheckString(q + ".next_node", c.next_node(), NodeIdSpec()));
    RETURN_IF_ERROR(CheckString(q + ".require_var", c.require_var(), VarNameSpec()));
  }
  RETURN_IF_ERROR(CheckCount(p + ".fate", node.fate_size(), {.max = kMaxEdges}));
  for (int j = 0; j < node.fate_size(); ++j) {
    const std::string q = IndexField(p + ".fate", j);
    RETURN_IF_ERROR(CheckString(q + ".next_node", node.fate(j).next_node(), NodeIdSpec()));
    RETURN_IF_ERROR(CheckInt(q + ".weight", node.fate(j).weight(), 1, 1000));
  }
  // ST1: exactly one of choices / fate / end.
  const int kinds = (node.choices_size() > 0) + (node.fate_size() > 0) + (node.end() ? 1 : 0);
  if (kinds == 0) return InvalidArgument(p + ".choices", reason::kRequired);
  if (kinds > 1) return InvalidArgument(p + (node.end() ? ".end" : ".fate"), reason::kMalformed);
  return absl::OkStatus();
}

// Rule 3: enters `node_id` and, through fate nodes, whatever follows; counts entries (ST8).
absl::Status Enter(const Story& story, Session& session, std::string node_id, int& entries) {
  while (true) {
    if (++entries > kMaxEntriesPerCall) {
      return FailedPrecondition("fate_chain_too_long", {}, "fate chain too long");
    }
    const pb::Node* node = story.Find(node_id);
    if (node == nullptr) return Internal("story references a missing node");  // checked at put
    const int64_t visits = ++session.visits[node_id];
    for (const auto& [name, delta] : node->effects()) session.vars[name] += delta;
    session.path.push_back(node_id);
    session.node_id = node_id;
    if (node->fate_size() > 0) {
      Rng rng(session.seed + ":" + node_id + ":" + std::to_string(visits));
      std::vector<uint64_t> weights;
      for (const pb::FateEdge& e : node->fate())
        weights.push_back(static_cast<uint64_t>(e.weight()));
      absl::StatusOr<size_t> pick = rng.Weighted(weights);
      if (!pick.ok()) return Internal("fate weights");  // 1–1000 by rule 1
      node_id = node->fate(static_cast<int>(*pick)).next_node();
      continue;
    }
    if (node->end()) session.status = "finished";
    return absl::OkStatus();
  }
}

}  // namespace

const pb::Node* Story::Find(std::string_view node_id) const {
  for (const pb::Node& n : nodes) {
    if (n.node_id() == node_id) return &n;
  }
  return nullptr;
}

std::string StoryHeadKey(std::string_view story_id) {
  return std::string(kStorePrefix) + "stories/" + std::string(story_id) + "/head";
}
std::string StoryVersionKey(std::string_view story_id, int64_t version) {
  return std::string(kStorePrefix) + "stories/" + std::string(story_id) + "/v/" +
         std::to_string(version);
}
std::string SessionKey(std::string_view session_id) {
  return std::string(kStorePrefix) + "sessions/" + std::string(session_id);
}

std::string EncodeStory(const Story& story) {
  pb::PutStoryRequest stored;
  stored.set_story_id(story.story_id);
  stored.set_start_node(story.start_node);
  for (const pb::Node& n : story.nodes) *stored.add_nodes() = n;
  return stored.SerializeAsString();
}

absl::StatusOr<Story> DecodeStory(std::string_view bytes, int64_t version) {
  pb::PutStoryRequest stored;
  if (!stored.ParseFromString(std::string(bytes))) return Internal("stored story does not parse");
  Story story;
  story.story_id = stored.story_id();
  story.version = version;
  story.start_node = stored.start_node();
  story.nodes.assign(stored.nodes().begin(), stored.nodes().end());
  return story;
}

std::string EncodeSession(const Session& s) {
  Json j = {{"session_id", s.session_id},
            {"player_id", s.player_id},
            {"story_id", s.story_id},
            {"story_version", s.story_version},
            {"seed", s.seed},
            {"node_id", s.node_id},
            {"step", s.step},
            {"status", s.status},
            {"vars", s.vars},
            {"visits", s.visits},
            {"path", s.path}};
  return j.dump();
}

absl::StatusOr<Session> DecodeSession(std::string_view bytes) {
  Json j = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Internal("stored session does not parse");
  Session s;
  s.session_id = j.value("session_id", "");
  s.player_id = j.value("player_id", "");
  s.story_id = j.value("story_id", "");
  s.story_version = j.value("story_version", int64_t{0});
  s.seed = j.value("seed", "");
  s.node_id = j.value("node_id", "");
  s.step = j.value("step", int64_t{0});
  s.status = j.value("status", "");
  for (auto it = j["vars"].begin(); j["vars"].is_object() && it != j["vars"].end(); ++it) {
    s.vars[it.key()] = it.value().get<int64_t>();
  }
  for (auto it = j["visits"].begin(); j["visits"].is_object() && it != j["visits"].end(); ++it) {
    s.visits[it.key()] = it.value().get<int64_t>();
  }
  if (j["path"].is_array()) {
    for (const Json& n : j["path"]) s.path.push_back(n.get<std::string>());
  }
  return s;
}

std::string EncodeHead(const Story& story) {
  return std::to_string(story.version) + "\n" + EncodeStory(story);
}

absl::StatusOr<Story> DecodeHead(std::string_view bytes) {
  const size_t newline = bytes.find('\n');
  int64_t version = 0;
  if (newline == std::string_view::npos ||
      !absl::SimpleAtoi(std::string(bytes.substr(0, newline)), &version)) {
    return Internal("stored story head does not parse");
  }
  return DecodeStory(bytes.substr(newline + 1), version);
}

absl::Status CheckPutStory(const pb::PutStoryRequest& rq) {
  RETURN_IF_ERROR(CheckString("story_id", rq.story_id(), StoryIdSpec()));
  RETURN_IF_ERROR(CheckString("start_node", rq.start_node(), NodeIdSpec()));
  RETURN_IF_ERROR(CheckCount("nodes", rq.nodes_size(), {.required = true, .max = kMaxNodes}));
  std::set<std::string> ids;
  for (int i = 0; i < rq.nodes_size(); ++i) {
    RETURN_IF_ERROR(CheckNode(rq.nodes(i), IndexField("nodes", i), ids));
  }
  // ST3: references after every per-field check; start_node, then node by node choices, fate.
  if (ids.count(rq.start_node()) == 0) return InvalidArgument("start_node", reason::kUnknownValue);
  for (int i = 0; i < rq.nodes_size(); ++i) {
    const pb::Node& node = rq.nodes(i);
    const std::string p = IndexField("nodes", i);
    for (int j = 0; j < node.choices_size(); ++j) {
      if (ids.count(node.choices(j).next_node()) == 0) {
        return InvalidArgument(IndexField(p + ".choices", j) + ".next_node", reason::kUnknownValue);
      }
    }
    for (int j = 0; j < node.fate_size(); ++j) {
      if (ids.count(node.fate(j).next_node()) == 0) {
        return InvalidArgument(IndexField(p + ".fate", j) + ".next_node", reason::kUnknownValue);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckStartSession(const pb::StartSessionRequest& rq) {
  RETURN_IF_ERROR(
      CheckString("player_id", rq.player_id(), {.required = true, .pattern = &PlayerIdPattern()}));
  RETURN_IF_ERROR(CheckString("story_id", rq.story_id(), StoryIdSpec()));
  RETURN_IF_ERROR(CheckString("seed", rq.seed(), {.max_len = 128}));
  RETURN_IF_ERROR(CheckVarMap("vars", rq.vars()));
  return CheckString("perf_mode", rq.perf_mode(), {.allowed = PerfModes()});
}

absl::Status CheckChoose(const pb::ChooseRequest& rq) {
  RETURN_IF_ERROR(CheckString("session_id", rq.session_id(), {.required = true}));
  RETURN_IF_ERROR(CheckString("choice_id", rq.choice_id(), NodeIdSpec()));
  return CheckString("perf_mode", rq.perf_mode(), {.allowed = PerfModes()});
}

absl::Status CheckGetSession(const pb::GetSessionRequest& rq) {
  return CheckString("session_id", rq.session_id(), {.required = true});
}

std::string SessionIdFor(std::string_view player_id, std::string_view story_id) {
  return DerivedId("ss", std::string(player_id) + ":" + std::string(story_id));
}

absl::StatusOr<Session> StartSession(const Story& story, const pb::StartSessionRequest& rq) {
  Session s;
  s.session_id = SessionIdFor(rq.player_id(), rq.story_id());
  s.player_id = rq.player_id();
  s.story_id = story.story_id;
  s.story_version = story.version;
  s.seed = rq.seed().empty() ? s.session_id : rq.seed();
  s.step = 0;
  s.status = "active";
  s.vars = std::map<std::string, int64_t>(rq.vars().begin(), rq.vars().end());
  int entries = 0;
  RETURN_IF_ERROR(Enter(story, s, story.start_node, entries));
  return s;
}

absl::StatusOr<Session> Choose(const Story& story, Session s, const pb::ChooseRequest& rq) {
  if (s.status == "finished") return FailedPrecondition("finished", {}, "session finished");
  if (rq.expected_step() != s.step) return FailedPrecondition("stale_step", {}, "stale step");
  const pb::Node* node = story.Find(s.node_id);
  const pb::Choice* choice = nullptr;
  for (int j = 0; node != nullptr && j < node->choices_size(); ++j) {
    if (node->choices(j).choice_id() == rq.choice_id()) choice = &node->choices(j);
  }
  if (choice == nullptr) return NotFound("choice_id", "no such choice at this node");
  if (!ChoiceAvailable(*choice, s.vars)) {
    return FailedPrecondition("requirement_not_met", {}, "requirement not met");
  }
  s.step += 1;
  s.path.clear();  // N31: the nodes entered by this call
  int entries = 0;
  RETURN_IF_ERROR(Enter(story, s, choice->next_node(), entries));
  return s;
}

bool ChoiceAvailable(const pb::Choice& choice, const std::map<std::string, int64_t>& vars) {
  if (choice.require_var().empty()) return true;
  auto it = vars.find(choice.require_var());
  return (it == vars.end() ? 0 : it->second) >= choice.require_min();
}

pb::GetSessionResponse View(const Story& story, const Session& s) {
  pb::GetSessionResponse v;
  v.set_session_id(s.session_id);
  v.set_story_id(s.story_id);
  v.set_status(s.status);
  v.set_step(s.step);
  v.set_node_id(s.node_id);
  if (const pb::Node* node = story.Find(s.node_id)) {
    v.set_text(node->text());
    for (const pb::Choice& c : node->choices()) {
      pb::ChoiceView* cv = v.add_choices();
      cv->set_choice_id(c.choice_id());
      cv->set_label(c.label());
      cv->set_available(ChoiceAvailable(c, s.vars));
    }
  }
  for (const auto& [name, value] : s.vars) (*v.mutable_vars())[name] = value;
  for (const std::string& n : s.path) v.add_path(n);
  return v;
}

std::optional<::ai_router::v1::RouteRequest> NarrationRequest(const Story& story, const Session& s,
                                                              std::string_view perf_mode) {
  const pb::Node* node = story.Find(s.node_id);
  if (node == nullptr || !node->narrate()) return std::nullopt;
  ::ai_router::v1::RouteRequest rq;
  rq.set_task(std::string(kNarrationTask));
  auto* system = rq.add_messages();
  system->set_role("system");
  system->set_content(std::string(kNarrationVoice));
  auto* user = rq.add_messages();
  user->set_role("user");
  user->set_content(node->text());
  rq.set_player_id(s.player_id);
  rq.set_perf_mode(std::string(perf_mode));
  auto visits = s.visits.find(s.node_id);
  const int64_t n = visits == s.visits.end() ? 0 : visits->second;
  rq.set_seed(Int64(H64(s.seed + ":" + s.node_id + ":" + std::to_string(n))));
  return rq;  // ST11: no temperature_milli, no idempotency_key
}

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  Json doc = StructToJson(document);
  std::vector<StoreEntry> entries;
  if (!doc.contains("stories") || doc["stories"].is_null()) return entries;
  const Json& stories = doc["stories"];
  if (!stories.is_array()) return InvalidArgument("stories", reason::kType);
  std::map<std::string, Story> heads;  // the latest version of each story
  for (size_t i = 0; i < stories.size(); ++i) {
    const std::string path = IndexField("stories", i);
    if (!stories[i].is_object()) return InvalidArgument(path, reason::kType);
    int64_t version = 1;
    if (stories[i].contains("version") && !stories[i]["version"].is_null()) {
      const Json& v = stories[i]["version"];
      if (!v.is_number() || v.get<double>() < 1 ||
          v.get<double>() != static_cast<double>(v.get<int64_t>())) {
        return InvalidArgument(path + ".version", reason::kType);
      }
      version = v.get<int64_t>();
    }
    ASSIGN_OR_RETURN(std::string text, Jcs(stories[i]));  // integral doubles print as integers
    pb::PutStoryRequest rq;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(text, &rq, options).ok()) {
      return InvalidArgument(path, reason::kType);
    }
    if (absl::Status s = CheckPutStory(rq); !s.ok()) {
      return InvalidArgument(path + "." + DetailsOf(s)["field"], DetailsOf(s)["reason"]);
    }
    Story story;
    story.story_id = rq.story_id();
    story.version = version;
    story.start_node = rq.start_node();
    story.nodes.assign(rq.nodes().begin(), rq.nodes().end());
    entries.push_back(
        StoreEntry{StoryVersionKey(story.story_id, version), EncodeStory(story), 0, 0});
    auto head = heads.find(story.story_id);
    if (head == heads.end() || head->second.version < version) heads[story.story_id] = story;
  }
  for (const auto& [id, story] : heads) {
    entries.push_back(StoreEntry{StoryHeadKey(id), EncodeHead(story), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::story_teller
