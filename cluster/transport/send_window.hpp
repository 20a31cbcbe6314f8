#pragma once
// Flow control of one direction of a session: frames sent and not yet acknowledged. CAF 0.17 never pushes back
// on a sender (a stalled peer makes its BASP write buffer grow without bound), so the receiver acknowledges
// what it processed (cumulative, in Sealed.ack) and the sender stops at the window; what does not fit waits in
// the peer's bounded queue, and beyond that send() refuses. Pure logic, unit-tested.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace bento::cluster::transport {

class send_window {
public:
  send_window(uint32_t max_frames, uint64_t max_bytes, uint32_t reserve_frames)
    : max_frames_(max_frames), max_bytes_(max_bytes), reserve_frames_(reserve_frames) {}

  /// Whether a frame of `bytes` may go now. Membership frames may use a reserve of extra frames beyond the
  /// window, so that heartbeats still flow when data filled it. A frame bigger than the byte window may go
  /// alone, when nothing is in flight (or it would never go).
  bool fits(size_t bytes, bool membership) const noexcept {
    if (in_flight_.empty())
      return true;
    auto frames_limit = max_frames_ + (membership ? reserve_frames_ : 0);
    return in_flight_.size() < frames_limit && (membership || bytes_ + bytes <= max_bytes_);
  }

  /// Every sealed frame takes a sequence number; only tracked ones (not bare acks) occupy the window.
  uint64_t next_seq() noexcept { return next_++; }
  void track(uint64_t seq, size_t bytes) {
    in_flight_.emplace_back(seq, bytes);
    bytes_ += bytes;
  }

  /// Cumulative: everything up to `ack` arrived. Acks for sequence numbers never sent are ignored.
  void acked(uint64_t ack) noexcept {
    if (ack >= next_)
      return;
    while (!in_flight_.empty() && in_flight_.front().first <= ack) {
      bytes_ -= in_flight_.front().second;
      in_flight_.pop_front();
    }
  }

  size_t frames_in_flight() const noexcept { return in_flight_.size(); }
  uint64_t bytes_in_flight() const noexcept { return bytes_; }

private:
  uint32_t max_frames_;
  uint64_t max_bytes_;
  uint32_t reserve_frames_;
  uint64_t next_ = 1;
  uint64_t bytes_ = 0;
  std::deque<std::pair<uint64_t, size_t>> in_flight_;
};

} // namespace bento::cluster::transport
