#pragma once
// Shared by the security_* integration tests: a temporary directory, a throwaway PKI made with the
// `openssl` tool (CA, server and client certificates, and an unrelated CA), NKey seed files and
// nats-server started on a config file written by the test. Header-only: three test binaries use it.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common::security {

// A fresh directory under $TMPDIR, removed with everything in it when destroyed.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    return std::unique_ptr<TempDir>(new TempDir(pattern));
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Writes `contents` to File(name), mode 0600 (secrets), and returns the path.
  absl::StatusOr<std::string> Write(const std::string& name, const std::string& contents) const {
    const std::string file = File(name);
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << contents;
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", file));
    }
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return file;
  }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Runs a tool to completion (bounded); an error carries its output.
inline absl::Status RunTool(std::vector<std::string> argv, const std::string& dir,
                            absl::Duration timeout = absl::Seconds(30)) {
  ProcessOptions options;
  options.name = argv[0];
  options.argv = std::move(argv);
  options.working_dir = dir;
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Spawn(options);
  if (!process.ok()) return process.status();
  absl::StatusOr<ExitStatus> exit = (*process)->Wait(absl::Now() + timeout);
  if (!exit.ok()) return exit.status();
  if (!exit->success()) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(options.argv, " "), ": ", exit->ToString(), "\n",
                                            (*process)->output()));
  }
  return absl::OkStatus();
}

// PEM files made by MakePki, all in one directory.
struct Pki {
  std::string ca_cert;        // signs the server and client certificates
  std::string server_cert;    // SAN DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string client_cert;    // CN=sidecar, clientAuth
  std::string client_key;
  std::string other_ca_cert;  // an unrelated CA: "the wrong CA"
  std::string other_client_cert;  // signed by the unrelated CA
  std::string other_client_key;
};

// EC P-256 keys, valid for two days. Takes a few hundred milliseconds (seven openssl runs).
inline absl::StatusOr<Pki> MakePki(const TempDir& dir) {
  const std::string d = dir.path();
  auto ca = [&](const std::string& name) {
    return RunTool({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign"},
                   d);
  };
  auto leaf = [&](const std::string& name, const std::string& issuer, const std::string& cn,
                  const std::string& extensions) -> absl::Status {
    absl::Status s = RunTool({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn},
                             d);
    if (!s.ok()) return s;
    absl::StatusOr<std::string> ext = dir.Write(name + ".ext", extensions);
    if (!ext.ok()) return ext.status();
    return RunTool({"openssl", "x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem", "-CAkey",
                    issuer + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", *ext},
                   d);
  };
  absl::Status s = ca("ca");
  if (s.ok()) s = ca("other-ca");
  if (s.ok()) {
    s = leaf("server", "ca", "localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  }
  if (s.ok()) s = leaf("client", "ca", "sidecar", "extendedKeyUsage=clientAuth\n");
  if (s.ok()) s = leaf("other-client", "other-ca", "intruder", "extendedKeyUsage=clientAuth\n");
  if (!s.ok()) return s;
  Pki pki;
  pki.ca_cert = dir.File("ca.pem");
  pki.server_cert = dir.File("server.pem");
  pki.server_key = dir.File("server.key");
  pki.client_cert = dir.File("client.pem");
  pki.client_key = dir.File("client.key");
  pki.other_ca_cert = dir.File("other-ca.pem");
  pki.other_client_cert = dir.File("other-client.pem");
  pki.other_client_key = dir.File("other-client.key");
  return pki;
}

// nats-server on a free loopback port with `config` (nats-server syntax) as its config file.
inline absl::StatusOr<std::unique_ptr<NatsServer>> StartNatsWithConfig(const TempDir& dir, const std::string& name,
                                                                       const std::string& config,
                                                                       bool jetstream = false) {
  absl::StatusOr<std::string> file = dir.Write(name, config);
  if (!file.ok()) return file.status();
  NatsServerOptions options;
  options.jetstream = jetstream;
  options.extra_args = {"-c", *file};
  return NatsServer::Start(options);
}

}  // namespace sidecar::test_common::security
