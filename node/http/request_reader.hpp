#pragma once
// Turns the bytes of one HTTP/1.1 connection into requests, with everything it holds bounded: the bytes
// buffered at once, the bytes read for one request (framing, chunk extensions and trailers included), the
// header and the body. Beast 1.74's parser can throw (std::length_error on a trailer field of 64 KiB or more)
// and buffers a chunk header until its end however long it is, so the reader owns a size-limited buffer and
// catches what the parser throws: a bad request ends its connection, never the process.
//
// No socket here: the connection reads into prepare() and calls commit(); tests and the fuzzer call feed().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "node/http/http_types.hpp"

namespace bento::node {

struct read_limits {
  size_t max_header_bytes = 16u << 10;
  size_t max_body_bytes = 1u << 20;
  /// Bytes held at once: a header, a chunk header or the trailers must fit.
  size_t max_buffer_bytes = 24u << 10;
  /// Every byte one request may take on the wire (chunk framing and extensions included). 0: derived as
  /// header + 2 × body + 64 KiB, which a normally chunked body never reaches.
  size_t max_request_bytes = 0;
  /// Bytes one socket read asks for.
  size_t read_size = 8u << 10;
};

/// What the connection should do next.
struct read_result {
  enum class kind { need_more, done, failed, closed };
  kind what = kind::need_more;
  int status = 0;      // failed: the 4xx to answer before closing
  std::string code;    // failed: the JSON error code
  std::string message; // failed: our constant text, never client bytes
};

class request_reader {
public:
  explicit request_reader(read_limits limits = {});
  ~request_reader();
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  /// Starts the next request on this connection. Bytes already buffered (pipelined) stay.
  void start();

  /// Space to read into, at most read_size bytes; size 0 when the buffer is full (commit then fails).
  std::pair<char*, size_t> prepare();

  /// `n` bytes were read into prepare()'s space; parses what it can.
  read_result commit(size_t n);

  /// Parses what is already buffered (after start(), for a pipelined request).
  read_result parse_buffered() { return commit(0); }

  /// The peer closed its side: a request cut short is a failure; no request at all is just a close.
  read_result on_eof();

  /// Copies `bytes` in (in read_size pieces, as reads would) and parses; for tests and the fuzzer.
  read_result feed(std::string_view bytes);

  /// After `done`: the request, for the API layer. Header values are copied, never trusted further.
  http_request take(const std::string& peer_address);

  /// X-Forwarded-For values of the last request, in order, joined by ", " (for trusted proxies only).
  const std::string& forwarded_for() const { return forwarded_for_; }

  bool keep_alive() const { return keep_alive_; }
  unsigned version() const { return version_; }
  /// Bytes of this request received so far (0: the connection is idle between requests).
  size_t request_bytes() const;
  size_t buffered() const;

  /// Gives the buffer's memory back (an idle keep-alive connection should hold none).
  void shrink();

private:
  read_result parse();
  read_result fail(int status, const char* code, const char* message);
  read_result check_framing();

  struct impl;
  std::unique_ptr<impl> impl_;
  read_limits limits_;
  bool keep_alive_ = false;
  bool framing_checked_ = false;
  unsigned version_ = 11;
  std::string forwarded_for_;
};

/// RFC 9112 §6.1/§6.3: the only Transfer-Encoding accepted is exactly `chunked` (case-insensitive, trimmed),
/// and never together with Content-Length. Returns false when the request must be refused with 400.
bool acceptable_transfer_encoding(std::string_view value);

} // namespace bento::node
