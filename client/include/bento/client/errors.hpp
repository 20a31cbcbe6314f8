#pragma once
// Failures are values: every call returns a result<T> that holds either the reply or an `error` whose `code`
// is one of the protocol's codes (docs/protocol.md) or one the SDK itself reports. Nothing here throws except
// result::value() on an error, the one place a caller asked for a value that is not there.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace bento::client {

enum class errc {
  // The node's codes (docs/protocol.md, "Error codes").
  invalid_argument,
  unauthorized,
  forbidden,
  not_found,
  already_exists,
  out_of_stock,
  meal_unavailable,
  invalid_transition,
  idempotency_key_reused,
  precondition_failed,
  superseded,
  too_many_requests,
  overloaded,
  unavailable,
  storage_failure,
  outcome_unknown,
  not_leader,
  unknown_method,
  protocol_error,
  frame_too_large,
  unsupported_version,
  idle_timeout,
  slow_client,
  too_many_connections,
  shutting_down,
  // The SDK's own.
  unreachable, // no node could be connected to (or none completed the handshake)
  timeout,     // the call's time ran out with nothing done: a read, or a write that was never sent (a write
               // that may have reached a node ends as outcome_unknown instead)
  cancelled,   // the client was destroyed before the call finished
  unknown,     // the node sent a code this SDK does not know; error::code_text keeps it
};

/// The wire spelling ("out_of_stock"); "unknown" for errc::unknown.
std::string_view to_string(errc code) noexcept;
/// The code for a wire spelling; errc::unknown for anything else (a newer node may add codes).
errc errc_from_string(std::string_view text) noexcept;

struct error {
  errc code = errc::unknown;
  std::string code_text;        // the code as sent (or to_string(code) for the SDK's own)
  std::string message;          // for humans
  std::string item_id;          // out_of_stock, meal_unavailable, invalid_argument: the item concerned
  uint32_t retry_after_ms = 0;  // too_many_requests, overloaded, unavailable: when a retry may succeed
  /// PLACE_ORDER whose outcome is unknown (outcome_unknown, or cancelled after sending): the idempotency key
  /// it was sent with (the caller's, or the one the SDK made up). Placing the same order again with this key
  /// returns the order if it was placed, and places it once if not.
  std::string idempotency_key;
};

/// An error of the SDK's own making (code_text filled from the code).
error make_error(errc code, std::string message);
/// "out_of_stock: not enough katsu (item katsu)": for logs and examples.
std::string describe(const error& e);

class bad_result_access : public std::logic_error {
public:
  explicit bad_result_access(error e) : std::logic_error(describe(e)), error_(std::move(e)) {}
  const client::error& failure() const noexcept { return error_; }

private:
  client::error error_;
};

/// Either a T or an error, like C++23's std::expected<T, error>.
template <class T>
class result {
  static_assert(!std::is_same_v<T, client::error>, "result<error> would be ambiguous");

public:
  using value_type = T;
  using error_type = client::error;

  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(error_type e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The failure; only meaningful when !has_value() (a success yields a default error).
  const error_type& error() const noexcept {
    static const error_type none{};
    return has_value() ? none : std::get<1>(v_);
  }

private:
  void check() const {
    if (!has_value())
      throw bad_result_access(std::get<1>(v_));
  }
  std::variant<T, error_type> v_;
};

template <>
class result<void> {
public:
  using value_type = void;
  using error_type = client::error;

  result() = default;
  result(error_type e) : e_(std::move(e)) {}

  bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_)
      throw bad_result_access(*e_);
  }
  const error_type& error() const noexcept {
    static const error_type none{};
    return e_ ? *e_ : none;
  }

private:
  std::optional<error_type> e_;
};

} // namespace bento::client
