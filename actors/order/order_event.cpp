#include "actors/order/order_event.hpp"

#include "actors/common/keys.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

void append_order_event(store::write_batch& batch, const char* type, const std::string& order_id,
                        const domain::order& o, std::string_view record) {
  domain::event header{0, type, keys::order_entity(order_id), o.updated_at_ms, {}, o.restaurant_id};
  auto bytes = codec::encode_order_event(header, record);
  batch.append_encoded_event(std::move(header), std::move(bytes));
}

} // namespace bento::actors
