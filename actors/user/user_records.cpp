#include "actors/user/user_records.hpp"

#include "actors/common/keys.hpp"
#include "protocol/codec/entity_codec.hpp"

namespace bento::actors {

store::write_batch registration_batch(const domain::user& u) {
  store::write_batch batch;
  batch.put(store::column::entities, keys::user_record(u.username), codec::encode(u));
  batch.put(store::column::indexes, keys::user_by_id(u.id), u.username);
  auto public_copy = u;
  public_copy.password_hash.clear();
  batch.append_event(domain::event{0, "user.registered", keys::user_entity(u.username), u.created_at_ms,
                                   std::move(public_copy), {}});
  return batch;
}

} // namespace bento::actors
