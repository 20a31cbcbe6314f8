// libFuzzer target: raw bytes through the HTTP edge's request reader (node/http/request_reader) and the API
// router (node/http/api_routes) on the real domain: an in-process actor system, the local router, the
// catalog and order index, and a RocksDB store in a temporary directory. No fake domain.
//
// An input is one connection's bytes: every request it holds is answered in turn, as the server would.
// "$CUSTOMER" and "$MERCHANT" in the input become valid bearer tokens, so that inputs reach past
// authentication. Invariants (abort = a finding): every answer is below 500 except a 503/504 from the domain
// itself; every 4xx has a JSON body with "error" and "message"; every request is answered within 20 s.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "node/http/request_reader.hpp"
#include "tests/fuzz/fuzz_node.hpp"

namespace {

using namespace bento;
using bento::fuzz::fuzz_node;

std::atomic<uint64_t> routed{0}; // requests that reached the router (the driver reports it)
fuzz_node* the_node = nullptr; // leaked on purpose under libFuzzer: it exits without running destructors

void replace_all(std::string& s, const std::string& what, const std::string& with) {
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!the_node)
    the_node = new fuzz_node();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  replace_all(bytes, "$CUSTOMER", the_node->customer_token);
  replace_all(bytes, "$MERCHANT", the_node->merchant_token);
  node::read_limits limits;
  // Reads of one byte and of many: the parser must not depend on how the bytes arrive.
  limits.read_size = size % 3 == 0 ? 1 : 8192;
  node::request_reader reader(limits);
  auto r = reader.feed(bytes);
  for (int i = 0; i < 8 && r.what == node::read_result::kind::done; ++i) {
    auto req = reader.take("192.0.2." + std::to_string(1 + size % 200));
    req.request_id = "fuzz";
    ++routed;
    the_node->call(std::move(req));
    reader.start();
    r = reader.parse_buffered();
  }
  if (r.what == node::read_result::kind::failed && (r.status < 400 || r.status > 499)) {
    std::fprintf(stderr, "fuzz finding: reader failed with %d\n", r.status);
    std::abort();
  }
  return 0;
}

extern "C" const char* const* bento_fuzz_dictionary(size_t* n) {
  static const char* const words[] = {
    "\r\n", "\r\n\r\n", " HTTP/1.1\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: ", "0\r\n\r\n",
    "Authorization: Bearer $CUSTOMER\r\n", "Authorization: Bearer $MERCHANT\r\n", "Idempotency-Key: ",
    "X-Forwarded-For: ", "?limit=", "&cursor=", "%00", "%", "+", ";ext=", "{", "}", "[", "]", "\"", "\\u0000",
    "/api/v1/orders", "/api/v1/menu", "/api/v1/restaurants/", "/metrics", ",", ":", "-1", "99999999999",
  };
  *n = sizeof words / sizeof *words;
  return words;
}

extern "C" uint64_t bento_fuzz_routed_requests() {
  return routed.load();
}

/// For the plain driver: stops the actors so the process exits cleanly.
extern "C" void bento_fuzz_shutdown() {
  if (the_node) {
    the_node->shutdown();
    delete the_node;
    the_node = nullptr;
  }
}
