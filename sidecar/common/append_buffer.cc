#include "sidecar/common/append_buffer.h"

namespace sidecar {

void AppendBuffer::Grow(size_t n) {
  size_t room = storage_.size() < 64 ? 64 : storage_.size() * 2;
  while (room - size_ < n) room *= 2;
  storage_.resize(room);
}

}  // namespace sidecar
