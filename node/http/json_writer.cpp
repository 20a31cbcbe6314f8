#include "node/http/json_writer.hpp"

#include <charconv>

namespace bento::node {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD

/// How a UTF-8 sequence starting at s[i] reads: its length when valid (`valid` true), else how many bytes of it
/// to drop for one U+FFFD — the lead and the continuation bytes accepted before the first that does not fit,
/// as nlohmann's replacing dump counts them (it reads the unfitting byte again as the start of a new one).
struct utf8_read {
  size_t length;
  bool valid;
};

utf8_read read_utf8(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
  if (n == 0)
    return {1, false}; // a continuation byte, or a lead no valid sequence has (C0, C1, F5-FF)
  // The second byte's range excludes overlongs, surrogates and code points past U+10FFFF (RFC 3629).
  unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
  unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size())
      return {k, false}; // cut short at the end
    unsigned char d = b(i + k);
    bool fits = k == 1 ? (d >= lo && d <= hi) : (d & 0xC0) == 0x80;
    if (!fits)
      return {k, false};
  }
  return {n, true};
}

void escape_into(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      auto r = read_utf8(s, i);
      if (r.valid)
        out.append(s.data() + i, r.length);
      else
        out += replacement;
      i += r.length;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
          out.append(u, 6);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

} // namespace

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back())
      out_ += ',';
    first_.back() = false;
  }
}

json_writer& json_writer::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

json_writer& json_writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

json_writer& json_writer::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

json_writer& json_writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

json_writer& json_writer::key(std::string_view name) {
  before_value();
  out_ += '"';
  escape_into(out_, name);
  out_ += "\":";
  after_key_ = true;
  return *this;
}

json_writer& json_writer::value(std::string_view s) {
  before_value();
  out_ += '"';
  escape_into(out_, s);
  out_ += '"';
  return *this;
}

template <class Integer>
json_writer& json_writer::number(Integer n) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out_.append(buf, static_cast<size_t>(r.ptr - buf));
  return *this;
}

json_writer& json_writer::value(int64_t n) {
  return number(n);
}

json_writer& json_writer::value(uint64_t n) {
  return number(n);
}

json_writer& json_writer::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

json_writer& json_writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

json_writer& json_writer::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

json_writer& json_writer::strings(const std::vector<std::string>& list) {
  begin_array();
  for (auto& s : list)
    value(s);
  return end_array();
}

} // namespace bento::node
