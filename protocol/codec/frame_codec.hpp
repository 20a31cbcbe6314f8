#pragma once
// Frames of the binary client protocol (docs/protocol.md): a 4-byte big-endian length, then that many bytes.
// The decoder takes bytes as they arrive from a socket and hands out whole frames; it never holds more than one
// frame's worth (the limit) plus what one read brought, and refuses a length over the limit before the body
// arrives. No I/O and no Protobuf here, so that a fuzzer can drive it with any bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bento::codec {

/// The frame around `body`: its length (big-endian, 4 bytes), then the body.
std::string frame(std::string_view body);

class frame_decoder {
public:
  explicit frame_decoder(uint32_t max_frame_bytes) : max_(max_frame_bytes) {}

  enum class status : uint8_t {
    need_more, // no whole frame buffered
    frame,     // one frame moved into `out`
    too_large, // the next frame's length is over the limit: the stream cannot go on
    empty,     // the next frame's length is 0: not a valid frame
  };

  void feed(const char* data, size_t size);
  status next(std::string& out);

  /// Bytes received and not yet handed out (part of a frame, or frames not yet taken).
  size_t buffered() const noexcept { return buf_.size() - pos_; }
  /// The length the next frame declares, once its 4 bytes are here (0 before).
  uint32_t pending_length() const noexcept;

private:
  uint32_t max_;
  std::string buf_;
  size_t pos_ = 0; // start of what is not handed out yet
};

} // namespace bento::codec
