#pragma once
// The status line and header fields of a response, written straight into a reused buffer: Beast's serializer
// built a field list (an allocation per field) and walked a chain of buffer views for every response, a
// tenth of a menu read's CPU, for a handful of fields we choose ourselves. Requests are still parsed by Beast.
#include <cstddef>
#include <string>

#include "node/http/http_types.hpp"

namespace bento::node {

/// Writes into `out` (cleared first) the head of `resp` for a client speaking HTTP/1.`minor`, with a body of
/// `body_size` bytes: Server, Content-Type, resp.headers, Connection as keep-alive requires, Content-Length.
/// A field whose name or value holds a CR, LF or NUL is left out (it would split the response). Statuses that
/// carry no body (1xx, 204, 304) get no Content-Length; the caller sends no body with them.
void write_response_head(std::string& out, const http_response& resp, unsigned minor, bool keep_alive,
                         size_t body_size);

/// Whether a response with this status carries a body.
bool status_has_body(int status) noexcept;

} // namespace bento::node
