#include "actors/common/entity_context.hpp"

#include "protocol/domain/calendar.hpp"

namespace bento::actors {

int64_t entity_context::now_ms() const {
  return clock ? clock() : domain::now_ms();
}

} // namespace bento::actors
