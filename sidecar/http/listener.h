#pragma once
// A listener turns wire input (a NATS subscription, an HTTP port) into requests for the filter chain.
// The server starts them, asks them for readiness, and drains them on shutdown.

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace sidecar::http {

class Listener {
 public:
  virtual ~Listener() = default;
  virtual const std::string& name() const = 0;
  // Starts accepting (subscribes, binds). Called once, on the dispatcher thread.
  virtual absl::Status Start() = 0;
  // True while accepting; otherwise `why` says what is missing.
  virtual bool Ready(std::string* why) const = 0;
  // Stops accepting new work and calls `done` (on the dispatcher) once every accepted request is
  // answered. Requests already received are never dropped.
  virtual void Drain(absl::AnyInvocable<void()> done) = 0;
  // Requests accepted and not yet answered.
  virtual size_t active_requests() const = 0;
};

}  // namespace sidecar::http
