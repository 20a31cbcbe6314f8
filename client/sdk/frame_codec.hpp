#pragma once
// The protocol's framing (docs/protocol.md, "Framing"): a 4-byte big-endian length, then that many bytes of
// one message. Pure byte work, kept apart from sockets so partial reads and limits are testable.
#include <cstddef>
#include <cstdint>
#include <string>

namespace bento::client::detail {

inline constexpr size_t frame_header_bytes = 4;
/// The largest limit a node may announce (BENTO_CLIENT_FRAME_MAX_BYTES); the limit before its Welcome says.
inline constexpr uint32_t max_frame_limit = 64u * 1024 * 1024;

/// Appends `body` with its length prefix to `out`.
void append_frame(std::string& out, const std::string& body);

/// Cuts a byte stream into frame bodies. Refuses a length of 0 or over the limit as soon as the prefix is
/// in, before any of the body is buffered, so a hostile peer cannot make it hold more than one frame.
class frame_decoder {
public:
  enum class status { need_more, frame, empty_frame, too_large };

  explicit frame_decoder(uint32_t max_frame_bytes = max_frame_limit) : limit_(max_frame_bytes) {}

  void set_limit(uint32_t max_frame_bytes) { limit_ = max_frame_bytes; }
  uint32_t limit() const { return limit_; }

  void feed(const char* data, size_t size);
  /// The next complete frame's body into `body` (status::frame); need_more until one is complete. After
  /// empty_frame or too_large the stream is broken and stays so.
  status next(std::string& body);
  /// Bytes held, of frames not yet taken.
  size_t buffered() const { return buffer_.size() - read_; }

private:
  std::string buffer_;
  size_t read_ = 0; // taken bytes at the front, dropped when that is cheap
  uint32_t limit_;
  status broken_ = status::need_more;
};

} // namespace bento::client::detail
