#pragma once
// One mirror's own exchange: the copy sent to the shadow cluster (and, for a noise sample, to the
// primary cluster once more), the answers collected, and the comparison that ends it. It has one
// owner at a time, on one loop: ShadowRuntime's when the mirror runs on the request loop, the
// MirrorWorker's when it runs on the shadow's own thread, and ShadowRuntime's again when it comes
// back to be counted. Nothing in it touches shared state, so the comparison (decoding, parsing,
// diffing: the mirror's CPU work) runs on whichever loop owns it.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sidecar/http/message.h"
#include "sidecar/shadow/diff.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::shadow {

struct ShadowPolicy;

// Renders a binary (protobuf) response body as JSON for the comparison; nullopt keeps the body.
// Each instance is called from one loop only (the runtime and the worker each hold their own).
using BodyDecoder = absl::AnyInvocable<std::optional<std::string>(const http::Request&,
                                                                  const http::Response&) const>;

// What a finished mirror found. The runtime folds the raw JSON paths, learns `noise_paths` and sets
// apart the differing paths it knows as noise: only then is a diffed exchange matched or not.
struct Comparison {
  enum class Result {
    kMatched,  // equal bytes and status: nothing parsed, nothing to learn
    kDiffed,   // both sides parsed and compared: see paths
    kError,    // a side failed (nothing to compare)
    kDropped,  // the shadow's own pool refused it: the mirror never left
  };
  Result result = Result::kError;
  std::vector<std::string> paths;        // differing between primary and shadow
  size_t more_paths = 0;                 // differing paths beyond those in `paths`
  std::vector<std::string> noise_paths;  // differing between the two primary answers (noise sample)
};

struct MirrorRun {
  uint64_t id = 0;
  std::shared_ptr<const ShadowPolicy> policy;  // immutable, shared across threads
  bool time_pinned = false;
  bool want_noise = false;
  // The primary's request as the shadow gets it (ShadowPolicy::MirrorOf), kept alive while the
  // shadow cluster may still read it. It also names the service and action every answer is
  // decoded by, and is the noise copy's model.
  http::Request mirrored;
  http::Request noise_copy;                // likewise for the primary cluster's second answer
  http::Clock::duration primary_budget{};  // the primary's time left at Begin, for the noise copy
  std::string shadow_cluster;
  std::string primary_cluster;
  std::optional<absl::StatusOr<http::Response>> primary, shadow, noise;
  std::optional<Comparison> comparison;  // set once every side is in

  // Sends the mirror to `shadow` (and the noise copy to `primary_target` when sampled), each with
  // its own deadline from now. `on_done` runs on this loop once every side is in and compared,
  // never inline from Start. The clusters must outlive the run or Cancel() must come first.
  void Start(upstream::Cluster& shadow, upstream::Cluster* primary_target,
             const BodyDecoder* decoder, absl::AnyInvocable<void()> on_done);
  // The primary's final answer, when it was not in at Start (a streamed body that ended since).
  void SetPrimary(absl::StatusOr<http::Response> result);
  // Drops the calls in flight; on_done never runs.
  void Cancel();
  // The route's count of mirrors at the shadow (its cap): taken when the mirror leaves, given back
  // once, by whichever thread sees the run end, before the run is handed back to be counted.
  void TakeSlot(std::shared_ptr<std::atomic<int64_t>> in_flight);
  void ReleaseSlot();

 private:
  void MaybeFinish();

  const BodyDecoder* decoder_ = nullptr;
  absl::AnyInvocable<void()> on_done_;
  upstream::Cancellable* shadow_call_ = nullptr;
  upstream::Cancellable* noise_call_ = nullptr;
  std::shared_ptr<std::atomic<int64_t>> slot_;
};

// Compares the run's sides (all in). Pure: no stats, no shared state.
Comparison Compare(const MirrorRun& run, const BodyDecoder* decoder);

}  // namespace sidecar::shadow
