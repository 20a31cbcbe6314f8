#include "node/http/response_head.hpp"

#include <charconv>
#include <ostream> // boost/utility/string_view.hpp uses it without including it

#include <boost/beast/http/status.hpp>

namespace bento::node {

namespace {

bool field_safe(const std::string& s) noexcept {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

void append_number(std::string& out, size_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<size_t>(end - buf));
}

void append_field(std::string& out, const char* name, const std::string& value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

} // namespace

bool status_has_body(int status) noexcept {
  return !(status < 200 || status == 204 || status == 304);
}

void write_response_head(std::string& out, const http_response& resp, unsigned minor, bool keep_alive,
                         size_t body_size) {
  out.clear();
  int status = (resp.status >= 100 && resp.status <= 999) ? resp.status : 500;
  out.append(minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, static_cast<size_t>(status));
  out.push_back(' ');
  auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out.append(reason.data(), reason.size()).append("\r\nServer: bento\r\n");
  if (field_safe(resp.content_type))
    append_field(out, "Content-Type", resp.content_type);
  for (auto& [name, value] : resp.headers)
    if (!name.empty() && field_safe(name) && name.find(':') == std::string::npos && field_safe(value))
      append_field(out, name.c_str(), value);
  // HTTP/1.1 keeps the connection unless told; HTTP/1.0 closes it unless told.
  if (minor == 0 && keep_alive)
    out.append("Connection: keep-alive\r\n");
  else if (minor != 0 && !keep_alive)
    out.append("Connection: close\r\n");
  if (status_has_body(status)) {
    out.append("Content-Length: ");
    append_number(out, body_size);
    out.append("\r\n");
  }
  out.append("\r\n");
}

} // namespace bento::node
