#include "protocol/codec/frame_codec.hpp"

namespace bento::codec {

std::string frame(std::string_view body) {
  std::string out(4, '\0');
  auto n = static_cast<uint32_t>(body.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  out.append(body);
  return out;
}

void frame_decoder::feed(const char* data, size_t size) {
  // Compact before growing, so the buffer holds at most one read beyond the frame being assembled.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= 64 * 1024)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, size);
}

uint32_t frame_decoder::pending_length() const noexcept {
  if (buffered() < 4)
    return 0;
  auto b = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

frame_decoder::status frame_decoder::next(std::string& out) {
  if (buffered() < 4)
    return status::need_more;
  auto n = pending_length();
  if (n == 0)
    return status::empty;
  if (n > max_)
    return status::too_large;
  if (buffered() - 4 < n)
    return status::need_more;
  out.assign(buf_, pos_ + 4, n);
  pos_ += 4 + n;
  return status::frame;
}

} // namespace bento::codec
