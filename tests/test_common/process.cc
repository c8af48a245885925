#include "tests/test_common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace sidecar::test_common {
namespace {

// Enough of the output to diagnose a failed start without flooding the test log.
constexpr size_t kOutputTailBytes = 8192;

std::string ErrnoText(int err) { return std::string(strerror(err)); }

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", ErrnoText(err)));
}

// Resolves argv[0] in the parent: after fork() only async-signal-safe calls are allowed, so the
// child must get a ready path for execve instead of searching PATH itself.
absl::StatusOr<std::string> ResolveProgram(const std::string& program) {
  if (program.empty()) return absl::InvalidArgumentError("empty argv[0]");
  if (program.find('/') != std::string::npos) {
    if (access(program.c_str(), X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(program, " is not executable: ", ErrnoText(errno)));
    }
    return program;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", program);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat(program, " not found in PATH"));
}

// Re-homes a close-on-exec descriptor to a number >= 3.
absl::Status MoveAboveStdio(int* fd) {
  if (*fd > 2) return absl::OkStatus();
  int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return ErrnoStatus("fcntl F_DUPFD_CLOEXEC", errno);
  close(*fd);
  *fd = moved;
  return absl::OkStatus();
}

std::vector<std::string> BuildEnvironment(const ProcessOptions& options) {
  std::set<std::string> removed(options.unset_env.begin(), options.unset_env.end());
  for (const auto& [key, value] : options.env) removed.insert(key);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    std::string key(entry.substr(0, entry.find('=')));
    if (removed.count(key) == 0) env.emplace_back(entry);
  }
  for (const auto& [key, value] : options.env) env.push_back(absl::StrCat(key, "=", value));
  return env;
}

std::vector<char*> CStringArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Closes every descriptor >= 3 that is not in `keep` (sorted ascending). Async-signal-safe.
void CloseAllExcept(const int* keep, size_t keep_count, int max_fd) {
  unsigned int next = 3;
  for (size_t i = 0; i <= keep_count; ++i) {
    unsigned int stop = i < keep_count ? static_cast<unsigned int>(keep[i]) : ~0U;
    if (stop < next) continue;
    if (stop > next) {
      unsigned int last = stop == ~0U ? ~0U : stop - 1;
      if (syscall(SYS_close_range, next, last, 0) != 0) {
        // Kernels before 5.9: close one by one up to the descriptor limit.
        unsigned int limit = std::min(last, static_cast<unsigned int>(max_fd));
        for (unsigned int fd = next; fd <= limit; ++fd) close(static_cast<int>(fd));
      }
    }
    if (stop == ~0U) break;
    next = stop + 1;
  }
}

[[noreturn]] void ChildAfterFork(pid_t parent, const char* program, char* const* argv,
                                 char* const* envp, const char* working_dir, int devnull,
                                 int output_w, int error_w, const int* keep, size_t keep_count,
                                 const int* inherit, size_t inherit_count, int max_fd) {
  // Only async-signal-safe calls from here on: the parent may have other threads holding locks.
  auto fail = [error_w]() {
    int err = errno;
    ssize_t ignored = write(error_w, &err, sizeof(err));
    (void)ignored;
    _exit(127);
  };
  setpgid(0, 0);
  // Dies with the spawning thread; the getppid() check closes the race with a parent that died
  // before prctl() ran.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail();
  if (getppid() != parent) _exit(127);

  // The test may block or ignore signals (a dispatcher's signal handling); the child starts clean.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) {
    sigaction(sig, &dfl, nullptr);
  }

  if (dup2(devnull, 0) < 0 || dup2(output_w, 1) < 0 || dup2(output_w, 2) < 0) fail();
  for (size_t i = 0; i < inherit_count; ++i) {
    if (fcntl(inherit[i], F_SETFD, 0) != 0) fail();
  }
  CloseAllExcept(keep, keep_count, max_fd);
  if (working_dir != nullptr && chdir(working_dir) != 0) fail();
  execve(program, argv, envp);
  fail();
  _exit(127);  // not reached: fail() exits, but the compiler cannot see through the lambda
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (signaled) return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
  return absl::StrCat("exited with code ", code);
}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(ProcessOptions options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Process::Spawn: empty argv");
  if (options.name.empty()) options.name = options.argv[0];
  for (int fd : options.inherit_fds) {
    if (fd < 3) return absl::InvalidArgumentError(absl::StrCat("cannot inherit fd ", fd));
    if (fcntl(fd, F_GETFD) < 0) return ErrnoStatus(absl::StrCat("inherit fd ", fd), errno);
  }
  auto program = ResolveProgram(options.argv[0]);
  if (!program.ok()) return program.status();

  // Everything the child needs is prepared before fork().
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv = CStringArray(argv_strings);
  std::vector<std::string> env_strings = BuildEnvironment(options);
  std::vector<char*> envp = CStringArray(env_strings);
  std::vector<int> inherit = options.inherit_fds;

  int output_pipe[2];
  if (pipe2(output_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    close(output_pipe[0]);
    close(output_pipe[1]);
    return ErrnoStatus("pipe2", errno);
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto close_all = [&] {
    for (int fd : {output_pipe[0], output_pipe[1], error_pipe[0], error_pipe[1], devnull}) {
      if (fd >= 0) close(fd);
    }
  };
  if (devnull < 0) {
    int err = errno;
    close_all();
    return ErrnoStatus("open /dev/null", err);
  }
  // A test run with stdin/stdout closed (CI without a terminal) gets descriptors 0-2 for these;
  // the child's dup2() onto 0-2 would then clobber them, so they must live above 2.
  for (int* fd : {&output_pipe[0], &output_pipe[1], &error_pipe[0], &error_pipe[1], &devnull}) {
    if (absl::Status s = MoveAboveStdio(fd); !s.ok()) {
      close_all();
      return s;
    }
  }
  std::vector<int> keep = inherit;
  keep.push_back(error_pipe[1]);  // close-on-exec: it reports exec failures, then vanishes
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  struct rlimit rl;
  int max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
  }
  const char* working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close_all();
    return ErrnoStatus("fork", err);
  }
  if (pid == 0) {
    ChildAfterFork(parent, program->c_str(), argv.data(), envp.data(), working_dir, devnull,
                   output_pipe[1], error_pipe[1], keep.data(), keep.size(), inherit.data(),
                   inherit.size(), max_fd);
  }

  // Also set the group from the parent so Signal() works even before the child ran setpgid().
  setpgid(pid, pid);
  close(output_pipe[1]);
  close(error_pipe[1]);
  close(devnull);

  std::unique_ptr<Process> process(new Process(std::move(options)));
  process->pid_ = pid;
  process->output_fd_ = output_pipe[0];

  // EOF means execve() succeeded (the pipe is close-on-exec); otherwise the child sent errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n > 0) {
    // The destructor reaps the child, which has already exited.
    return absl::InternalError(absl::StrCat("cannot start ", process->options_.argv[0], " (",
                                            *program, "): ", ErrnoText(child_errno)));
  }

  process->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  process->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (process->wake_fd_ < 0) return ErrnoStatus("eventfd", errno);
  process->reader_ = std::thread([p = process.get()] { p->ReadLoop(); });
  return process;
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (reader_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
    reader_.join();
  }
  for (int fd : {output_fd_, pidfd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void Process::ReadLoop() {
  char buffer[65536];
  for (;;) {
    struct pollfd fds[2] = {{output_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents == 0) continue;
    ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    output_.append(buffer, static_cast<size_t>(n));
  }
  absl::MutexLock lock(&mu_);
  output_closed_ = true;
}

std::string Process::output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

size_t Process::output_size() const {
  absl::MutexLock lock(&mu_);
  return output_.size();
}

std::string Process::OutputTail() const {
  absl::MutexLock lock(&mu_);
  if (output_.size() <= kOutputTailBytes) return output_;
  return absl::StrCat("...", output_.substr(output_.size() - kOutputTailBytes));
}

absl::Status Process::ErrorWithOutput(absl::StatusCode code, absl::string_view what) const {
  return absl::Status(code, absl::StrCat(options_.name, " (pid ", pid_, "): ", what,
                                         "\n--- output ---\n", OutputTail(), "\n--------------"));
}

absl::Status Process::WaitForOutput(absl::string_view needle, absl::Time deadline, size_t from) {
  std::string wanted(needle);
  bool found = false;
  bool closed = false;
  {
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      found = output_.size() > from && output_.find(wanted, from) != std::string::npos;
      closed = output_closed_;
      return found || closed;
    };
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    done();
  }
  if (found) return absl::OkStatus();
  if (closed) {
    return ErrorWithOutput(absl::StatusCode::kUnavailable,
                           absl::StrCat("output closed (process exited?) before \"", wanted, "\""));
  }
  return ErrorWithOutput(absl::StatusCode::kDeadlineExceeded,
                         absl::StrCat("timed out waiting for \"", wanted, "\""));
}

absl::StatusOr<std::vector<std::string>> Process::WaitForMatch(const std::regex& re,
                                                               absl::Time deadline, size_t from) {
  std::smatch match;
  std::vector<std::string> groups;
  bool closed = false;
  {
    // absl::Mutex may evaluate a condition more than once for one change (in the releasing
    // thread, then again in the woken one), so the result must be stable: a match stays found.
    size_t scanned_size = static_cast<size_t>(-1);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      closed = output_closed_;
      if (!groups.empty()) return true;
      if (output_.size() == scanned_size) return closed;  // nothing new to scan
      scanned_size = output_.size();
      if (output_.size() > from &&
          std::regex_search(output_.cbegin() + static_cast<std::ptrdiff_t>(from), output_.cend(),
                            match, re)) {
        groups.clear();
        for (const auto& group : match) groups.push_back(group.str());
        return true;
      }
      return closed;
    };
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  }
  if (!groups.empty()) return groups;
  if (closed) {
    return ErrorWithOutput(absl::StatusCode::kUnavailable,
                           "output closed (process exited?) before the expected line");
  }
  return ErrorWithOutput(absl::StatusCode::kDeadlineExceeded,
                         "timed out waiting for the expected line");
}

absl::Status Process::Signal(int sig) {
  if (reaped_) return absl::OkStatus();
  // The group exists while the leader is alive or an unreaped zombie, so its id cannot have been
  // reused by an unrelated process.
  if (kill(-pid_, sig) != 0 && kill(pid_, sig) != 0 && errno != ESRCH) {
    return ErrnoStatus(absl::StrCat("kill ", options_.name), errno);
  }
  return absl::OkStatus();
}

absl::Status Process::Kill() { return Signal(SIGKILL); }

bool Process::TryReap() {
  if (reaped_) return true;
  int status = 0;
  pid_t rc;
  do {
    rc = waitpid(pid_, &status, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return false;
  reaped_ = true;
  if (rc < 0) {
    exit_status_.signaled = true;  // reaped elsewhere: report something, never block
    exit_status_.signal = 0;
    return true;
  }
  if (WIFSIGNALED(status)) {
    exit_status_.signaled = true;
    exit_status_.signal = WTERMSIG(status);
  } else {
    exit_status_.code = WEXITSTATUS(status);
  }
  return true;
}

absl::StatusOr<ExitStatus> Process::Wait(absl::Time deadline) {
  while (!TryReap()) {
    if (pidfd_ >= 0) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      struct pollfd pfd = {pidfd_, POLLIN, 0};
      int timeout_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
      int rc = poll(&pfd, 1, timeout_ms);
      if (rc < 0 && errno != EINTR) return ErrnoStatus("poll pidfd", errno);
      if (rc == 0 && absl::Now() >= deadline) break;
    } else {
      // No pidfd (old kernel): the child's exit closes the output pipe, unless it handed the pipe
      // to a grandchild.
      bool closed = false;
      {
        auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return output_closed_; };
        absl::MutexLock lock(&mu_);
        closed = mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
      }
      if (!closed) break;
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      if (WIFSIGNALED(status)) {
        exit_status_.signaled = true;
        exit_status_.signal = WTERMSIG(status);
      } else {
        exit_status_.code = WEXITSTATUS(status);
      }
    }
  }
  if (!reaped_) {
    return absl::DeadlineExceededError(
        absl::StrCat(options_.name, " (pid ", pid_, ") still running at the deadline"));
  }
  AwaitOutputDrained(deadline);
  return exit_status_;
}

void Process::AwaitOutputDrained(absl::Time deadline) {
  // The reap can win the race with the reader thread: the child's last bytes may still sit in the
  // pipe. Wait for EOF so output() after Wait() holds everything the child wrote. A grandchild
  // that inherited the pipe could hold it open, so the wait is bounded by a short grace too.
  auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return output_closed_; };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&closed),
                        std::max(std::min(deadline, absl::Now() + absl::Seconds(2)),
                                 absl::Now() + absl::Milliseconds(200)));
}

absl::StatusOr<ExitStatus> Process::Terminate(absl::Time deadline) {
  if (absl::Status s = Signal(SIGTERM); !s.ok()) return s;
  auto status = Wait(deadline);
  if (status.ok()) return status;
  if (absl::Status s = Kill(); !s.ok()) return s;
  // SIGKILL cannot be caught; the wait is bounded only to keep a wedged kernel from hanging us.
  return Wait(absl::Now() + absl::Seconds(10));
}

bool Process::running() { return !TryReap(); }

}  // namespace sidecar::test_common
