#pragma once
// An order's event in a write batch, built around the bytes of the order's record written beside it: the order
// is encoded once per write, not a second time inside its event (codec::encode_order_event).
#include <string>
#include <string_view>

#include "actors/store/entity_store.hpp"
#include "protocol/domain/types.hpp"

namespace bento::actors {

/// Appends the event `type` of order `order_id` in state `o`, whose encoded record is `record`.
void append_order_event(store::write_batch& batch, const char* type, const std::string& order_id,
                        const domain::order& o, std::string_view record);

} // namespace bento::actors
