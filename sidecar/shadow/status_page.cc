#include "sidecar/shadow/status_page.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sidecar::shadow {
namespace {

using Json = nlohmann::json;

std::string Text(const Json& j) {
  if (j.is_string()) return HtmlEscape(j.get<std::string>());
  if (j.is_null()) return "&ndash;";
  return HtmlEscape(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f %%", fraction * 100);
  return buf;
}

constexpr char kStyle[] = R"(
body{font-family:system-ui,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d6dbe3;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f6}code{font-family:ui-monospace,monospace;font-size:12px}
.ok{color:#17693a;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#6b7385}
.bar{display:inline-block;height:8px;background:#3c7be0;border-radius:2px;vertical-align:middle}
pre{white-space:pre-wrap;word-break:break-all;margin:0;max-height:160px;overflow:auto}
)";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderStatusPage(const Json& routes, const Json& shadow_stats, const Json& mismatches,
                             size_t max_mismatches) {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nats-sidecar status</title><style>",
      kStyle, "</style></head><body>\n<h1>nats-sidecar</h1><div class=\"muted\">routes, weights and shadow "
      "comparisons of this task</div>\n");

  html += "<h2>Routes</h2>\n<table id=\"routes\"><tr><th>route</th><th>match</th><th>split</th><th>shadow</th>"
          "<th>shadow match rate</th></tr>\n";
  for (const Json& route : routes.is_array() ? routes : Json::array()) {
    const std::string name = route.value("name", "");
    std::string match;
    if (route.contains("prefix")) match = absl::StrCat("prefix ", Text(route["prefix"]));
    if (route.contains("service")) {
      absl::StrAppend(&match, match.empty() ? "" : "<br>", "service ", Text(route["service"]));
      if (route.contains("action")) absl::StrAppend(&match, " / ", Text(route["action"]));
    }
    std::string split;
    for (const Json& w : route.value("split", Json::array())) {
      const double weight = w.value("weight", 0.0);
      absl::StrAppend(&split, "<div><code>", Text(w.value("cluster", Json(""))), "</code> (", Text(w.value("kind", Json(""))),
                      ") ", Text(Json(weight)), " % <span class=\"bar\" style=\"width:",
                      static_cast<int>(weight), "px\"></span></div>");
    }
    std::string shadow = "<span class=\"muted\">off</span>";
    std::string rate = "<span class=\"muted\">&ndash;</span>";
    if (route.contains("shadow") && route["shadow"].is_object()) {
      const Json& s = route["shadow"];
      shadow = absl::StrCat("<code>", Text(s.value("cluster", Json(""))), "</code> ", Text(s.value("percent", Json(0))), " %");
    }
    if (shadow_stats.is_object() && shadow_stats.contains(name)) {
      // Read with value(), never a const operator[]: on a missing key that dereferences end() (a
      // crash, or garbage, depending on the heap). A count this runtime did not report reads 0.
      const Json& st = shadow_stats[name];
      const Json r = st.value("match_rate", Json(nullptr));
      if (r.is_number()) {
        rate = absl::StrCat("<span class=\"", r.get<double>() >= 0.99 ? "ok" : "bad", "\">", Percent(r.get<double>()),
                            "</span>");
      }
      auto count = [&st](const char* result) { return Text(st.value(result, Json(0))); };
      absl::StrAppend(&rate, "<div class=\"muted\">matched ", count("matched"), ", mismatched ", count("mismatched"),
                      ", error ", count("error"), ", dropped ", count("dropped"), "</div>");
      if (st.contains("cpu_pressure_pause")) {
        const Json& pause = st["cpu_pressure_pause"];
        const Json pressure = pause.value("pressure", Json(nullptr));
        const double admitted = pause.value("admitted", 1.0);
        absl::StrAppend(&rate, "<div class=\"", admitted < 1.0 ? "bad" : "muted", "\">CPU pressure line ",
                        Percent(pause.value("above", 0.0)), " (now ",
                        pressure.is_number() ? Percent(pressure.get<double>()) : "unknown", "): admits ",
                        Percent(admitted), " of mirrors, skipped ", count("paused"), "</div>");
      }
    }
    absl::StrAppend(&html, "<tr><td><code>", HtmlEscape(name), "</code></td><td>", match, "</td><td>", split,
                    "</td><td>", shadow, "</td><td>", rate, "</td></tr>\n");
  }
  html += "</table>\n";

  html += "<h2>Differing paths</h2>\n<table id=\"paths\"><tr><th>route</th><th>mismatches by path</th>"
          "<th>learned noise (ignored)</th></tr>\n";
  const Json stats = shadow_stats.is_object() ? shadow_stats : Json::object();
  for (const auto& [name, st] : stats.items()) {
    std::string paths;
    const Json mismatch_paths = st.value("mismatch_paths", Json::object());  // items() needs a named object
    for (const auto& [path, n] : mismatch_paths.items()) {
      absl::StrAppend(&paths, "<div><code>", HtmlEscape(path), "</code> &times; ", Text(n), "</div>");
    }
    std::string noise;
    for (const Json& path : st.value("noise_paths", Json::array())) {
      absl::StrAppend(&noise, "<div><code>", Text(path), "</code></div>");
    }
    absl::StrAppend(&html, "<tr><td><code>", HtmlEscape(name), "</code></td><td>",
                    paths.empty() ? "<span class=\"muted\">none</span>" : paths, "</td><td>",
                    noise.empty() ? "<span class=\"muted\">none</span>" : noise, "</td></tr>\n");
  }
  html += "</table>\n";

  html += "<h2>Recent mismatches</h2>\n<table id=\"mismatches\"><tr><th>time</th><th>route</th><th>request</th>"
          "<th>paths</th><th>primary</th><th>shadow</th></tr>\n";
  size_t shown = 0;
  for (const Json& m : mismatches.is_array() ? mismatches : Json::array()) {
    if (shown++ >= max_mismatches) break;
    const Json& request = m.value("request", Json::object());
    std::vector<std::string> paths;
    for (const Json& p : m.value("paths", Json::array())) paths.push_back(absl::StrCat("<code>", Text(p), "</code>"));
    auto side = [](const Json& s) {
      return absl::StrCat("<code>", Text(s.value("cluster", Json(""))), "</code> ", Text(s.value("status", Json(0))),
                          "<pre>", Text(s.value("body", Json(""))), "</pre>");
    };
    absl::StrAppend(&html, "<tr><td>", Text(m.value("time", Json(""))), "</td><td><code>", Text(m.value("route", Json(""))),
                    "</code></td><td><code>", Text(request.value("method", Json(""))), " ",
                    Text(request.value("path", Json(""))), "</code></td><td>", absl::StrJoin(paths, "<br>"),
                    "</td><td>", side(m.value("primary", Json::object())), "</td><td>",
                    side(m.value("shadow", Json::object())), "</td></tr>\n");
  }
  if (shown == 0) html += "<tr><td colspan=\"6\" class=\"muted\">no mismatches recorded</td></tr>\n";
  html += "</table>\n</body></html>\n";
  return html;
}

}  // namespace sidecar::shadow
