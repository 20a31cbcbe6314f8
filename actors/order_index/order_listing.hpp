#pragma once
// One page of an order listing, plain C++ over the store (unit-tested against a real one). Every filter a
// listing takes is an index prefix (caller, then status, then month), so a page reads what it returns and no
// more; a scan budget bounds it all the same.
#include "protocol/domain/commands.hpp"
#include "protocol/domain/outcome.hpp"

namespace bento::store {
class entity_store;
}

namespace bento::actors {

/// Index entries one page looks at, at most. Past it the page ends early with a cursor that continues.
inline constexpr size_t listing_scan_budget = 1000;

/// Newest first. The cursor is the hex of the last index key looked at: opaque to clients, checked to belong to
/// the caller's own index and this query's filters (a cursor from the plain index also continues a listing
/// by status, so cursors handed out before the status index existed keep working).
domain::outcome<domain::order_list> query_orders(const store::entity_store& store, const domain::list_orders& q,
                                                 size_t scan_budget = listing_scan_budget);

} // namespace bento::actors
