#pragma once
// A growable byte buffer for serialising message heads. Appends are inline copies into room that
// is usually there already: std::string::append is an out-of-line call with its own checks per
// piece, and a head is a few dozen pieces (name, ": ", value, CRLF per header), which made the
// appends alone 6 % of the pass-through's instructions. Short constant pieces such as ": " become
// single stores.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace sidecar {

class AppendBuffer {
 public:
  AppendBuffer() = default;
  explicit AppendBuffer(size_t capacity) { storage_.resize(capacity); }
  AppendBuffer(const AppendBuffer&) = default;
  AppendBuffer& operator=(const AppendBuffer&) = default;
  // A moved-from buffer is empty (its room went with the content).
  AppendBuffer(AppendBuffer&& other) noexcept
      : storage_(std::move(other.storage_)), size_(std::exchange(other.size_, 0)) {}
  AppendBuffer& operator=(AppendBuffer&& other) noexcept {
    storage_ = std::move(other.storage_);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  void Append(std::string_view piece) {
    char* to = Room(piece.size());
    if (!piece.empty()) std::memcpy(to, piece.data(), piece.size());
    size_ += piece.size();
  }
  // Writes `name: value\r\n`.
  void AppendHeaderLine(std::string_view name, std::string_view value) {
    char* to = Room(name.size() + value.size() + 4);
    if (!name.empty()) std::memcpy(to, name.data(), name.size());
    to += name.size();
    std::memcpy(to, ": ", 2);
    to += 2;
    if (!value.empty()) std::memcpy(to, value.data(), value.size());
    to += value.size();
    std::memcpy(to, "\r\n", 2);
    size_ += name.size() + value.size() + 4;
  }
  void Clear() { size_ = 0; }  // keeps the room

  std::string_view view() const { return std::string_view(storage_.data(), size_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  char* Room(size_t n) {
    if (storage_.size() - size_ < n) Grow(n);
    return storage_.data() + size_;
  }
  // Out of line (append_buffer.cc): the rare case stays out of the inlined appends.
  void Grow(size_t n);

  // Its size() is the room; only the first size_ bytes are content.
  std::string storage_;
  size_t size_ = 0;
};

// The decimal digits of `n`, written into `buffer` (no allocation): lengths and timeouts in heads.
inline std::string_view FormatDecimal(uint64_t n, char (&buffer)[20]) {
  const std::to_chars_result end = std::to_chars(buffer, buffer + sizeof buffer, n);
  return std::string_view(buffer, static_cast<size_t>(end.ptr - buffer));
}

}  // namespace sidecar
