#include "client/sdk/frame_codec.hpp"

namespace bento::client::detail {

void append_frame(std::string& out, const std::string& body) {
  auto n = static_cast<uint32_t>(body.size());
  const char header[frame_header_bytes] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                           static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(header, frame_header_bytes);
  out.append(body);
}

void frame_decoder::feed(const char* data, size_t size) {
  if (broken_ != status::need_more)
    return;
  // Compact before growing: the front holds frames already handed out.
  if (read_ > 0 && (read_ == buffer_.size() || read_ >= buffer_.size() / 2)) {
    buffer_.erase(0, read_);
    read_ = 0;
  }
  buffer_.append(data, size);
}

frame_decoder::status frame_decoder::next(std::string& body) {
  if (broken_ != status::need_more)
    return broken_;
  if (buffered() < frame_header_bytes)
    return status::need_more;
  auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + read_);
  uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  if (n == 0)
    return broken_ = status::empty_frame;
  if (n > limit_)
    return broken_ = status::too_large;
  if (buffered() < frame_header_bytes + n)
    return status::need_more;
  body.assign(buffer_, read_ + frame_header_bytes, n);
  read_ += frame_header_bytes + n;
  return status::frame;
}

} // namespace bento::client::detail
