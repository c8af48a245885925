#pragma once
// RAII for C handles with a stateless deleter, so a handle stays pointer-sized.

#include <memory>

namespace sidecar {

template <typename T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

template <typename T, void (*Free)(T*)>
using CHandle = std::unique_ptr<T, CFree<T, Free>>;

}  // namespace sidecar
