#pragma once
// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Abseil 20220623 (Debian bookworm) ships no status_macros.h.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SIDECAR_CONCAT_INNER(a, b) a##b
#define SIDECAR_CONCAT(a, b) SIDECAR_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status _sidecar_status = (expr);   \
    if (!_sidecar_status.ok()) return _sidecar_status; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  SIDECAR_ASSIGN_OR_RETURN_IMPL(SIDECAR_CONCAT(_sidecar_statusor_, __LINE__), lhs, expr)

#define SIDECAR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
