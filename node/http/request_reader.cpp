#include "node/http/request_reader.hpp"

#include <algorithm>
#include <optional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace bento::node {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y))
      return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

bool acceptable_transfer_encoding(std::string_view value) {
  return iequals(trim(value), "chunked");
}

struct request_reader::impl {
  explicit impl(size_t max_buffer) : buffer(max_buffer) {}
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  size_t consumed = 0; // bytes of this request the parser has taken
};

request_reader::request_reader(read_limits limits)
  : impl_(std::make_unique<impl>(std::max(limits.max_buffer_bytes, limits.max_header_bytes + 1024))),
    limits_(limits) {
  limits_.max_buffer_bytes = impl_->buffer.max_size();
  if (limits_.max_request_bytes == 0)
    limits_.max_request_bytes = limits_.max_header_bytes + 2 * limits_.max_body_bytes + (64u << 10);
  if (limits_.read_size == 0)
    limits_.read_size = 8u << 10;
  start();
}

request_reader::~request_reader() = default;

void request_reader::start() {
  auto& p = impl_->parser.emplace();
  p.header_limit(static_cast<uint32_t>(std::min<size_t>(limits_.max_header_bytes, UINT32_MAX)));
  p.body_limit(static_cast<uint64_t>(limits_.max_body_bytes));
  // Stop after the header so that its framing is checked before a single body byte is interpreted.
  p.eager(false);
  impl_->consumed = 0;
  framing_checked_ = false;
  forwarded_for_.clear();
}

size_t request_reader::request_bytes() const {
  return impl_->consumed + impl_->buffer.size();
}

size_t request_reader::buffered() const {
  return impl_->buffer.size();
}

std::pair<char*, size_t> request_reader::prepare() {
  auto& b = impl_->buffer;
  auto room = limits_.max_buffer_bytes - std::min(limits_.max_buffer_bytes, b.size());
  auto n = std::min(room, limits_.read_size);
  if (n == 0)
    return {nullptr, 0};
  auto space = b.prepare(n);
  return {static_cast<char*>(space.data()), space.size()};
}

read_result request_reader::commit(size_t n) {
  impl_->buffer.commit(n);
  return parse();
}

read_result request_reader::feed(std::string_view bytes) {
  read_result r = parse_buffered();
  while (r.what == read_result::kind::need_more && !bytes.empty()) {
    auto [p, room] = prepare();
    if (room == 0)
      return commit(0);
    auto n = std::min(room, bytes.size());
    std::copy_n(bytes.data(), n, p);
    bytes.remove_prefix(n);
    r = commit(n);
  }
  return r;
}

read_result request_reader::fail(int status, const char* code, const char* message) {
  read_result r;
  r.what = read_result::kind::failed;
  r.status = status;
  r.code = code;
  r.message = message;
  return r;
}

read_result request_reader::check_framing() {
  auto& req = impl_->parser->get();
  int transfer_encodings = 0, content_lengths = 0, authorizations = 0, idempotency_keys = 0, preconditions = 0;
  bool bad_encoding = false;
  for (auto& f : req) {
    if (f.name() == http::field::transfer_encoding) {
      ++transfer_encodings;
      bad_encoding = bad_encoding || !acceptable_transfer_encoding(sv(f.value()));
    } else if (f.name() == http::field::content_length) {
      ++content_lengths;
    } else if (f.name() == http::field::authorization) {
      ++authorizations;
    } else if (f.name() == http::field::if_match || f.name() == http::field::if_none_match) {
      ++preconditions;
    } else if (iequals(sv(f.name_string()), "Idempotency-Key")) {
      ++idempotency_keys;
    } else if (iequals(sv(f.name_string()), "X-Forwarded-For")) {
      if (!forwarded_for_.empty())
        forwarded_for_ += ", ";
      forwarded_for_.append(f.value().data(), f.value().size());
    }
  }
  // Anything but one plain `chunked` may be read differently by a proxy in front of us (smuggling).
  if (transfer_encodings > 1 || bad_encoding)
    return fail(400, "bad_request", "Transfer-Encoding other than chunked is not supported");
  if (transfer_encodings == 1 && content_lengths > 0)
    return fail(400, "bad_request", "Transfer-Encoding and Content-Length must not be combined");
  if (content_lengths > 1)
    return fail(400, "bad_request", "Content-Length must be given once");
  // Which of two credentials or keys counts would be a guess: refuse instead.
  if (authorizations > 1 || idempotency_keys > 1)
    return fail(400, "bad_request", "Authorization and Idempotency-Key must be given at most once");
  if (preconditions > 1)
    return fail(400, "bad_request", "give one If-Match or one If-None-Match");
  return {};
}

read_result request_reader::parse() {
  auto& b = impl_->buffer;
  auto& p = *impl_->parser;
  for (;;) {
    if (p.is_done()) {
      read_result r;
      r.what = read_result::kind::done;
      return r;
    }
    if (b.size() == 0)
      return {};
    beast::error_code ec;
    size_t used = 0;
    try {
      used = p.put(b.data(), ec);
    } catch (const std::exception&) {
      // Beast 1.74 throws on a trailer field it cannot store; whatever else it throws is the same story.
      return fail(400, "bad_request", "malformed HTTP request");
    }
    b.consume(used);
    impl_->consumed += used;
    if (impl_->consumed > limits_.max_request_bytes)
      return fail(413, "payload_too_large", "request exceeds the size limit");
    if (ec == http::error::need_more) {
      if (b.size() >= limits_.max_buffer_bytes) {
        if (!p.is_header_done())
          return fail(431, "headers_too_large", "request headers exceed the limit");
        return fail(400, "bad_request", "chunk header or trailers exceed the limit");
      }
      return {};
    }
    if (ec == http::error::body_limit)
      return fail(413, "payload_too_large", "request body exceeds the limit");
    if (ec == http::error::header_limit)
      return fail(431, "headers_too_large", "request headers exceed the limit");
    if (ec)
      return fail(400, "bad_request", "malformed HTTP request");
    if (p.is_header_done() && !framing_checked_) {
      framing_checked_ = true;
      auto r = check_framing();
      if (r.what == read_result::kind::failed)
        return r;
      p.eager(true);
    }
    if (used == 0 && !p.is_done())
      return {};
  }
}

read_result request_reader::on_eof() {
  read_result r;
  r.what = read_result::kind::closed;
  return r;
}

http_request request_reader::take(const std::string& client_address) {
  auto& req = impl_->parser->get();
  keep_alive_ = req.keep_alive();
  version_ = req.version();
  http_request out;
  out.method = std::string(req.method_string());
  auto target = sv(req.target());
  auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string::npos)
    out.raw_query = std::string(target.substr(q + 1));
  out.authorization = std::string(req[http::field::authorization]);
  out.idempotency_key = std::string(req["Idempotency-Key"]);
  out.if_match = std::string(req[http::field::if_match]);
  out.if_none_match = std::string(req[http::field::if_none_match]);
  out.content_type = std::string(req[http::field::content_type]);
  out.body = std::move(req.body());
  out.client_address = client_address;
  return out;
}

void request_reader::shrink() {
  if (impl_->buffer.size() == 0)
    impl_->buffer.shrink_to_fit();
  // A parser that has seen nothing of the next request holds only its empty header; a fresh one is smaller.
  if (impl_->consumed == 0 && impl_->buffer.size() == 0)
    start();
}

} // namespace bento::node
