#pragma once
// The admin status page (GET /status): routes with their weights and shadow share, shadow match
// rates, top differing paths, learned noise and the most recent mismatches. One self-contained
// HTML document (inline CSS, no scripts, nothing fetched), so it renders anywhere the admin port is
// reachable, headless Chromium included. Pure: builds the page from the JSON the other admin
// endpoints serve (/routes, ShadowRuntime::StatsJson, /shadow/mismatches).

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace sidecar::shadow {

std::string RenderStatusPage(const nlohmann::json& routes, const nlohmann::json& shadow_stats,
                             const nlohmann::json& mismatches, size_t max_mismatches = 20);

// &, <, >, " and ' as entities.
std::string HtmlEscape(std::string_view text);

}  // namespace sidecar::shadow
