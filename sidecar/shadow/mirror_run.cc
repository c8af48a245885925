#include "sidecar/shadow/mirror_run.h"

#include <utility>

#include "sidecar/shadow/shadow.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::shadow {

void MirrorRun::Start(upstream::Cluster& shadow_target, upstream::Cluster* primary_target,
                      const BodyDecoder* decoder, absl::AnyInvocable<void()> on_done) {
  decoder_ = decoder;
  on_done_ = std::move(on_done);
  const http::Clock::time_point now = http::Clock::now();
  mirrored.deadline = now + policy->timeout;
  // Clusters never call back inline from Send(), so both calls are recorded before any answer.
  shadow_call_ = shadow_target.Send(mirrored, [this](absl::StatusOr<http::Response> result) {
    shadow_call_ = nullptr;
    shadow = std::move(result);
    MaybeFinish();
  });
  if (want_noise && primary_target != nullptr) {
    noise_copy = mirrored;  // marked too: the primary can tell the copy apart
    noise_copy.stream_ok = false;
    noise_copy.deadline = now + primary_budget;
    noise_call_ = primary_target->Send(noise_copy, [this](absl::StatusOr<http::Response> result) {
      noise_call_ = nullptr;
      noise = std::move(result);
      MaybeFinish();
    });
  } else {
    want_noise = false;
  }
}

void MirrorRun::SetPrimary(absl::StatusOr<http::Response> result) {
  primary = std::move(result);
  MaybeFinish();
}

void MirrorRun::Cancel() {
  on_done_ = nullptr;
  if (auto* call = std::exchange(shadow_call_, nullptr)) call->Cancel();
  if (auto* call = std::exchange(noise_call_, nullptr)) call->Cancel();
}

void MirrorRun::TakeSlot(std::shared_ptr<std::atomic<int64_t>> in_flight) {
  in_flight->fetch_add(1);
  slot_ = std::move(in_flight);
}

void MirrorRun::ReleaseSlot() {
  if (slot_ != nullptr) std::exchange(slot_, nullptr)->fetch_sub(1);
}

void MirrorRun::MaybeFinish() {
  if (!on_done_ || comparison.has_value()) return;
  if (!primary.has_value() || !shadow.has_value() || (want_noise && !noise.has_value())) return;
  comparison = Compare(*this, decoder_);
  std::exchange(on_done_, nullptr)();
}

Comparison Compare(const MirrorRun& run, const BodyDecoder* decoder) {
  Comparison out;
  if (!run.shadow->ok()) {
    // The shadow's own pool refusing (overflow) is a drop: the mirror was never sent.
    const bool overflow =
        upstream::GetFailureKind(run.shadow->status()) == upstream::FailureKind::kOverflow;
    out.result = overflow ? Comparison::Result::kDropped : Comparison::Result::kError;
    return out;
  }
  if (!run.primary->ok()) return out;  // kError: nothing to compare against
  auto decode = [&](const http::Request& request,
                    const http::Response& response) -> std::optional<std::string> {
    if (decoder == nullptr || !*decoder) return std::nullopt;
    return (*decoder)(request, response);
  };
  const http::Response& primary_response = **run.primary;
  const http::Response& shadow_response = **run.shadow;
  const std::optional<std::string> primary_json = decode(run.mirrored, primary_response);
  const std::optional<std::string> shadow_json = decode(run.mirrored, shadow_response);
  const std::string& primary_body =
      primary_json.has_value() ? *primary_json : primary_response.body;
  const std::string& shadow_body = shadow_json.has_value() ? *shadow_json : shadow_response.body;
  // A healthy shadow answers with the same bytes, and equal inputs normalise and compare equal:
  // the common case parses neither body (each parse builds a tree of allocated nodes). An
  // exchange that also asked the primary twice still learns its noise below.
  if (!run.want_noise && primary_body == shadow_body &&
      ComparedStatus(primary_response) == ComparedStatus(shadow_response)) {
    out.result = Comparison::Result::kMatched;
    return out;
  }
  const Normalized primary = Normalize(primary_response, &primary_body);
  const Normalized shadow = Normalize(shadow_response, &shadow_body);
  DiffResult diff = Diff(primary, shadow, run.policy->diff, run.time_pinned);
  if (run.want_noise && run.noise->ok()) {
    const std::optional<std::string> noise_json = decode(run.mirrored, **run.noise);
    DiffResult noise = Diff(primary, Normalize(**run.noise, noise_json ? &*noise_json : nullptr),
                            run.policy->diff, run.time_pinned);
    out.noise_paths = std::move(noise.paths);
  }
  out.result = Comparison::Result::kDiffed;
  out.paths = std::move(diff.paths);
  out.more_paths = diff.truncated;
  return out;
}

}  // namespace sidecar::shadow
