#pragma once
// A network namespace joined to the test's own by a veth pair, for partition tests:
//
//   root namespace  <host_if> 10.201.N.1/30  ──veth──  10.201.N.2/30 <ns_if>  namespace <name>
//
// A process runs inside with the prefix {"ip", "netns", "exec", name()}; a test thread enters it
// with EnterFromThisThread() (setns changes only the calling thread's network namespace). Faults
// are tc netem qdiscs on either end (Netem), removed by Heal(). The destructor deletes the
// namespace, which takes the veth pair with it. Needs root (CAP_NET_ADMIN) and `ip`/`tc`:
// Create() returns kPermissionDenied / kUnavailable when the machine forbids it, so callers skip.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sidecar::test_common {

class NetnsPair {
 public:
  static absl::StatusOr<std::unique_ptr<NetnsPair>> Create();
  ~NetnsPair();

  const std::string& name() const { return name_; }
  const std::string& host_address() const { return host_address_; }  // root side of the veth
  const std::string& ns_address() const { return ns_address_; }      // namespace side
  std::vector<std::string> ExecPrefix() const { return {"ip", "netns", "exec", name_}; }

  // Moves the calling thread into the namespace (for its sockets from then on).
  absl::Status EnterFromThisThread() const;

  // tc netem on the namespace end (traffic leaving the namespace) and/or the host end (traffic
  // entering it), e.g. {"loss", "100%"} or {"delay", "200ms", "loss", "5%"}.
  absl::Status Netem(const std::vector<std::string>& args, bool ns_side, bool host_side);
  // Drops every packet leaving the chosen ends: netem loss 100% where sch_netem exists, else a
  // pfifo queue of length 0 (every packet overflows it), which needs no extra kernel module.
  absl::Status DropAll(bool ns_side, bool host_side);
  // Whether this kernel has sch_netem (a container may lack the module); probed on a dummy veth.
  bool NetemAvailable() const;
  // Removes every qdisc Netem/DropAll added.
  absl::Status Heal();

 private:
  NetnsPair() = default;
  absl::Status Run(std::vector<std::string> argv, bool in_ns = false) const;
  absl::Status RootQdisc(const std::vector<std::string>& qdisc, bool ns_side, bool host_side);

  std::string name_, host_if_, ns_if_, host_address_, ns_address_;
  bool ns_netem_ = false, host_netem_ = false;
};

}  // namespace sidecar::test_common
