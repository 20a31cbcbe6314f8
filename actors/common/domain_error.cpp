#include "actors/common/domain_error.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace bento::actors {

namespace {
constexpr caf::atom_value category = caf::atom("bento");
}

caf::error make_error(const domain::failure& f) {
  return caf::error(static_cast<uint8_t>(f.code), category, caf::make_message(f.message, f.item_id));
}

domain::failure to_failure(const caf::error& err) {
  using domain::errc;
  if (err.category() == category) {
    domain::failure f;
    f.code = static_cast<errc>(err.code());
    auto& ctx = err.context();
    if (ctx.match_elements<std::string, std::string>()) {
      f.message = ctx.get_as<std::string>(0);
      f.item_id = ctx.get_as<std::string>(1);
    }
    return f;
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return domain::fail(errc::outcome_unknown, "the request timed out; its outcome is unknown");
      case caf::sec::request_receiver_down:
        return domain::fail(errc::outcome_unknown, "the entity stopped before replying; outcome unknown");
      default: break;
    }
  }
  return domain::fail(errc::outcome_unknown, "internal error; outcome unknown");
}

} // namespace bento::actors
