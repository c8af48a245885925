#include "tests/test_common/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common {

absl::StatusOr<std::unique_ptr<NetnsPair>> NetnsPair::Create() {
  if (geteuid() != 0) return absl::PermissionDeniedError("network namespaces need root");
  std::unique_ptr<NetnsPair> p(new NetnsPair());
  const int n = static_cast<int>(getpid() % 250) + 1;
  p->name_ = absl::StrCat("sidecar-chaos-", getpid());
  p->host_if_ = absl::StrCat("vch", getpid());
  p->ns_if_ = absl::StrCat("vcn", getpid());
  p->host_address_ = absl::StrCat("10.201.", n, ".1");
  p->ns_address_ = absl::StrCat("10.201.", n, ".2");
  if (absl::Status s = p->Run({"ip", "netns", "add", p->name_}); !s.ok()) {
    p->name_.clear();  // nothing to delete
    return absl::PermissionDeniedError(absl::StrCat("ip netns add refused: ", s.message()));
  }
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"ip", "link", "add", p->host_if_, "type", "veth", "peer", "name", p->ns_if_},
           {"ip", "link", "set", p->ns_if_, "netns", p->name_},
           {"ip", "addr", "add", p->host_address_ + "/30", "dev", p->host_if_},
           {"ip", "link", "set", p->host_if_, "up"}}) {
    if (absl::Status s = p->Run(cmd); !s.ok()) return s;
  }
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"ip", "link", "set", "lo", "up"},
           {"ip", "addr", "add", p->ns_address_ + "/30", "dev", p->ns_if_},
           {"ip", "link", "set", p->ns_if_, "up"}}) {
    if (absl::Status s = p->Run(cmd, /*in_ns=*/true); !s.ok()) return s;
  }
  return p;
}

NetnsPair::~NetnsPair() {
  if (name_.empty()) return;
  Run({"ip", "link", "del", host_if_}).IgnoreError();  // also removes the peer
  Run({"ip", "netns", "del", name_}).IgnoreError();
}

absl::Status NetnsPair::Run(std::vector<std::string> argv, bool in_ns) const {
  ProcessOptions po;
  po.name = argv[0];
  if (in_ns) argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
  po.argv = argv;
  auto p = Process::Spawn(std::move(po));
  if (!p.ok()) return p.status();
  auto st = (*p)->Wait(absl::Now() + absl::Seconds(10));
  if (!st.ok()) return st.status();
  if (!st->success()) {
    return absl::UnavailableError(absl::StrCat(absl::StrJoin(argv, " "), ": ", st->ToString(), ": ", (*p)->output()));
  }
  return absl::OkStatus();
}

absl::Status NetnsPair::EnterFromThisThread() const {
  const int fd = open(absl::StrCat("/var/run/netns/", name_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError("open netns");
  const int rc = setns(fd, CLONE_NEWNET);
  close(fd);
  return rc == 0 ? absl::OkStatus() : absl::UnavailableError("setns");
}

absl::Status NetnsPair::RootQdisc(const std::vector<std::string>& qdisc, bool ns_side, bool host_side) {
  if (ns_side) {
    std::vector<std::string> cmd = {"tc", "qdisc", "replace", "dev", ns_if_, "root"};
    cmd.insert(cmd.end(), qdisc.begin(), qdisc.end());
    if (absl::Status s = Run(cmd, /*in_ns=*/true); !s.ok()) return s;
    ns_netem_ = true;
  }
  if (host_side) {
    std::vector<std::string> cmd = {"tc", "qdisc", "replace", "dev", host_if_, "root"};
    cmd.insert(cmd.end(), qdisc.begin(), qdisc.end());
    if (absl::Status s = Run(cmd); !s.ok()) return s;
    host_netem_ = true;
  }
  return absl::OkStatus();
}

absl::Status NetnsPair::Netem(const std::vector<std::string>& args, bool ns_side, bool host_side) {
  std::vector<std::string> qdisc = {"netem"};
  qdisc.insert(qdisc.end(), args.begin(), args.end());
  return RootQdisc(qdisc, ns_side, host_side);
}

absl::Status NetnsPair::DropAll(bool ns_side, bool host_side) {
  if (NetemAvailable()) return Netem({"loss", "100%"}, ns_side, host_side);
  return RootQdisc({"pfifo", "limit", "0"}, ns_side, host_side);
}

bool NetnsPair::NetemAvailable() const {
  // A throwaway veth pair in the namespace: adding netem there says whether the module exists
  // without touching the pair under test.
  const std::string a = absl::StrCat("vpa", getpid()), b = absl::StrCat("vpb", getpid());
  if (!Run({"ip", "link", "add", a, "type", "veth", "peer", "name", b}, true).ok()) return false;
  const bool ok = Run({"tc", "qdisc", "add", "dev", a, "root", "netem", "delay", "1ms"}, true).ok();
  Run({"ip", "link", "del", a}, true).IgnoreError();
  return ok;
}

absl::Status NetnsPair::Heal() {
  if (ns_netem_) {
    if (absl::Status s = Run({"tc", "qdisc", "del", "dev", ns_if_, "root"}, true); !s.ok()) return s;
    ns_netem_ = false;
  }
  if (host_netem_) {
    if (absl::Status s = Run({"tc", "qdisc", "del", "dev", host_if_, "root"}); !s.ok()) return s;
    host_netem_ = false;
  }
  return absl::OkStatus();
}

}  // namespace sidecar::test_common
