#pragma once
// outcome<T>: a value or a domain failure. State classes return it so that rules stay plain C++ (no CAF);
// actors turn a failure into a caf::error at their boundary.
#include <utility>
#include <variant>

#include "protocol/domain/errc.hpp"

namespace bento::domain {

template <class T>
class outcome {
public:
  outcome(T value) : data_(std::move(value)) {}
  outcome(failure f) : data_(std::move(f)) {}

  explicit operator bool() const noexcept { return data_.index() == 0; }
  T& operator*() { return std::get<0>(data_); }
  const T& operator*() const { return std::get<0>(data_); }
  T* operator->() { return &std::get<0>(data_); }
  const T* operator->() const { return &std::get<0>(data_); }
  const failure& error() const { return std::get<1>(data_); }
  failure& error() { return std::get<1>(data_); }

private:
  std::variant<T, failure> data_;
};

struct unit_t {
  bool operator==(const unit_t&) const { return true; }
};
inline constexpr unit_t unit{};

} // namespace bento::domain
