#pragma once
// What a registration writes, in the user's shard: the user's record, its id index entry and the
// `user.registered` event (without the password hash). The user actor writes it; the bulk loader of the scale
// benchmark (bench/load_users.cpp) writes the same, so loaded users are users like any other.
#include "actors/store/entity_store.hpp"
#include "protocol/domain/types.hpp"

namespace bento::actors {

store::write_batch registration_batch(const domain::user& u);

} // namespace bento::actors
