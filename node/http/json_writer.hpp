#pragma once
// A streaming JSON writer for the hot replies (menus, orders, listings): it appends straight to one string,
// where building an nlohmann::json tree first cost a node allocation per value and its destruction (about 40 %
// of the node's CPU on menu reads, issue 10). The output is byte for byte what json::dump gives for the same
// document with its keys in the same (sorted) order: compact, UTF-8 passed through, invalid UTF-8 replaced
// with U+FFFD, control characters escaped the way nlohmann escapes them (tests/unit/json_writer_test.cpp).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bento::node {

class json_writer {
public:
  explicit json_writer(size_t reserve = 1024) { out_.reserve(reserve); }

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  /// The next member's name (inside an object); its value follows.
  json_writer& key(std::string_view name);
  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }
  json_writer& value(int64_t n);
  json_writer& value(int32_t n) { return value(static_cast<int64_t>(n)); }
  json_writer& value(uint64_t n);
  json_writer& value(bool b);
  json_writer& null();
  /// A value already written as JSON (one of this writer's outputs, say a cached rendering).
  json_writer& raw(std::string_view json);
  template <class T>
  json_writer& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }
  json_writer& strings(const std::vector<std::string>& list);

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

private:
  void before_value();
  template <class Integer>
  json_writer& number(Integer n);
  std::string out_;
  std::vector<bool> first_; // per open container: nothing written in it yet
  bool after_key_ = false;
};

} // namespace bento::node
