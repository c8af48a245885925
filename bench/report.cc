#include "bench/report.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "nlohmann/json.hpp"

namespace sidecar::bench {
namespace {

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double Rps(const RunResult& r) {
  return r.elapsed_s > 0 ? static_cast<double>(r.responses) / r.elapsed_s : 0;
}

}  // namespace

void PrintHeader() {
  std::printf("%-30s %-11s %5s %8s %9s %10s %8s %8s %8s %8s %8s %7s %8s\n", "run", "mode", "conc",
              "rate", "requests", "rq/s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
              "errors", "timeouts");
}

void PrintRow(const RunResult& r) {
  const LatencyHistogram& h = r.latency;
  std::printf("%-30s %-11s %5d %8.0f %9llu %10.0f %8.3f %8.3f %8.3f %8.3f %8.3f %7llu %8llu\n",
              r.label.c_str(), r.mode.c_str(), r.concurrency, r.target_rate,
              static_cast<unsigned long long>(r.responses), Rps(r), Ms(h.ValueAtPercentile(50)),
              Ms(h.ValueAtPercentile(90)), Ms(h.ValueAtPercentile(99)),
              Ms(h.ValueAtPercentile(99.9)), Ms(h.max()), static_cast<unsigned long long>(r.errors),
              static_cast<unsigned long long>(r.timeouts));
  std::fflush(stdout);
}

std::string ToJson(const RunResult& r) {
  const LatencyHistogram& h = r.latency;
  nlohmann::ordered_json j;
  j["label"] = r.label;
  j["mode"] = r.mode;
  j["concurrency"] = r.concurrency;
  j["target_rate"] = r.target_rate;
  j["elapsed_s"] = r.elapsed_s;
  j["requests"] = r.responses;
  j["rps"] = Rps(r);
  j["p50_ms"] = Ms(h.ValueAtPercentile(50));
  j["p90_ms"] = Ms(h.ValueAtPercentile(90));
  j["p99_ms"] = Ms(h.ValueAtPercentile(99));
  j["p999_ms"] = Ms(h.ValueAtPercentile(99.9));
  j["max_ms"] = Ms(h.max());
  j["mean_ms"] = h.mean() / 1e6;
  j["errors"] = r.errors;
  j["timeouts"] = r.timeouts;
  j["statuses"] = r.statuses;
  return j.dump();
}

bool WriteHistogram(const RunResult& r, const std::string& path) {
  std::ofstream out(path);
  if (!out) {
    std::cerr << "cannot write histogram to " << path << "\n";
    return false;
  }
  out << "# " << r.label << " (" << r.mode << ", concurrency " << r.concurrency << ", target rate "
      << r.target_rate << "/s, " << r.elapsed_s << " s)\n";
  r.latency.WriteCsv(out);
  return static_cast<bool>(out);
}

int Emit(const RunResult& r, bool json, bool header, const std::string& histogram_out) {
  if (json) {
    std::cout << ToJson(r) << std::endl;
  } else {
    if (header) PrintHeader();
    PrintRow(r);
  }
  if (!histogram_out.empty() && !WriteHistogram(r, histogram_out)) return 3;
  return 0;
}

}  // namespace sidecar::bench
