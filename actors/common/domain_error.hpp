#pragma once
// The boundary between domain failures and caf::error: actors reply with make_error(failure); callers turn any
// caf::error (ours, or CAF's own such as a request timeout) back into a domain failure.
#include <caf/error.hpp>

#include "protocol/domain/errc.hpp"

namespace bento::actors {

caf::error make_error(const domain::failure& f);
domain::failure to_failure(const caf::error& err);

} // namespace bento::actors
