#include "actors/user/restaurant_slots.hpp"

#include <charconv>

#include "protocol/domain/validation.hpp"

namespace bento::actors {

using namespace bento::domain;

void restaurant_slots::load(const std::string& rid, std::string_view value) {
  restaurant_slot s;
  if (value == "ok") {
    s.confirmed = true;
  } else if (value.rfind("pending ", 0) == 0) {
    auto n = value.substr(8);
    std::from_chars(n.data(), n.data() + n.size(), s.since_ms);
  }
  slots_[rid] = s;
}

std::optional<failure> restaurant_slots::check(const open_restaurant& cmd, const std::optional<user>& merchant) {
  const auto& caller = cmd.create.caller;
  if (caller.role != role::merchant || !merchant || merchant->role != role::merchant
      || merchant->id != caller.user_id)
    return fail(errc::forbidden, "only merchants may create restaurants");
  if (auto f = check_id("restaurant id", cmd.create.restaurant_id))
    return f;
  if (auto f = check_text("name", cmd.create.name, max_name_length, true))
    return f;
  if (auto f = check_text("place", cmd.create.place, max_place_length, true))
    return f;
  return std::nullopt;
}

std::vector<std::string> restaurant_slots::stale(int64_t now_ms, int64_t age_ms) const {
  std::vector<std::string> out;
  for (auto& [rid, s] : slots_)
    if (!s.confirmed && s.since_ms <= now_ms - age_ms)
      out.push_back(rid);
  return out;
}

failure restaurant_slots::limit_reached(size_t limit) {
  return fail(errc::invalid_argument,
              "a merchant may own at most " + std::to_string(limit) + " restaurants");
}

const restaurant_slot* restaurant_slots::find(const std::string& rid) const {
  auto it = slots_.find(rid);
  return it == slots_.end() ? nullptr : &it->second;
}

std::string restaurant_slots::encode(const restaurant_slot& s) {
  return s.confirmed ? "ok" : "pending " + std::to_string(s.since_ms);
}

} // namespace bento::actors
