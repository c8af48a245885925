#include "bench/payload_sizes.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "adapters/transcoding/transcoder.h"
#include "nlohmann/json.hpp"

namespace sidecar::bench {
namespace {

namespace tc = adapters::transcoding;

struct Sizes {
  size_t request_json = 0, request_proto = 0, response_json = 0, response_proto = 0;
  size_t json() const { return request_json + response_json; }
  size_t proto() const { return request_proto + response_proto; }
};

double Ratio(size_t json, size_t proto) {
  return proto == 0 ? 0 : static_cast<double>(json) / static_cast<double>(proto);
}

void Print(const std::string& name, const Sizes& s, bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["name"] = name;
    j["request_json"] = s.request_json;
    j["request_proto"] = s.request_proto;
    j["response_json"] = s.response_json;
    j["response_proto"] = s.response_proto;
    j["ratio"] = Ratio(s.json(), s.proto());
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%-52s %9zu %9zu %9zu %9zu %7.2f\n", name.c_str(), s.request_json, s.request_proto,
                s.response_json, s.response_proto, Ratio(s.json(), s.proto()));
  }
}

}  // namespace

int RunPayloadSizes(const std::vector<std::string>& golden_files, bool json) {
  if (!json) {
    std::printf("%-52s %9s %9s %9s %9s %7s\n", "golden step (action)", "req_json", "req_pb",
                "resp_json", "resp_pb", "json/pb");
  }
  Sizes total;
  int failures = 0;
  for (const std::string& path : golden_files) {
    std::ifstream in(path);
    nlohmann::json golden = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!golden.is_object() || !golden.contains("service") || !golden.contains("steps")) {
      std::cerr << path << ": not a golden file\n";
      ++failures;
      continue;
    }
    auto transcoder = tc::Transcoder::Create(golden["service"].get<std::string>());
    if (!transcoder.ok()) {
      std::cerr << path << ": " << transcoder.status() << "\n";
      ++failures;
      continue;
    }
    const std::string file =
        path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    int step_no = 0;
    for (const auto& step : golden["steps"]) {
      ++step_no;
      const int status = step["expect"].value("status", 0);
      if (status < 200 || status > 299) continue;
      const std::string body =
          step.contains("body") && !step["body"].is_null() ? step["body"].dump() : "";
      auto request =
          (*transcoder)
              ->DecodeHttpRequest(step.value("method", "GET"), step.value("path", "/"), body);
      if (!request.ok()) {
        std::cerr << path << " step " << step_no << ": " << request.status() << "\n";
        ++failures;
        continue;
      }
      auto request_json =
          (*transcoder)->ProtoToJson(request->action, tc::MessageKind::kRequest, request->proto);
      const nlohmann::json& expect = step["expect"]["body"];
      auto response_proto = (*transcoder)
                                ->JsonToProto(request->action, tc::MessageKind::kResponse,
                                              expect.is_null() ? "" : expect.dump());
      if (!request_json.ok() || !response_proto.ok()) {
        std::cerr << path << " step " << step_no << ": "
                  << (request_json.ok() ? response_proto.status() : request_json.status()) << "\n";
        ++failures;
        continue;
      }
      auto response_json =
          (*transcoder)->ProtoToJson(request->action, tc::MessageKind::kResponse, *response_proto);
      if (!response_json.ok()) {
        std::cerr << path << " step " << step_no << ": " << response_json.status() << "\n";
        ++failures;
        continue;
      }
      Sizes s{request_json->size(), request->proto.size(), response_json->size(),
              response_proto->size()};
      total.request_json += s.request_json;
      total.request_proto += s.request_proto;
      total.response_json += s.response_json;
      total.response_proto += s.response_proto;
      std::ostringstream name;
      name << golden["service"].get<std::string>() << "/" << file << "#" << step_no << " ("
           << request->action << ")";
      Print(name.str(), s, json);
    }
  }
  Print("total", total, json);
  return failures == 0 ? 0 : 1;
}

}  // namespace sidecar::bench
