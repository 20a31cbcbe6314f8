#include "node/allocator.hpp"

#include <cstdint>

#ifdef BENTO_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads this at its first allocation. Purging unused pages from a background thread keeps that work
// off the I/O and actor threads (+4 % orders/s, paired); BENTO's environment may still override it with
// MALLOC_CONF, which jemalloc applies after this.
extern "C" {
const char* malloc_conf = "background_thread:true,max_background_threads:1";
}
#endif

namespace bento::node {

const char* allocator_name() noexcept {
#ifdef BENTO_WITH_JEMALLOC
  return "jemalloc";
#else
  return "libc";
#endif
}

std::map<std::string, double> allocator_stats() {
  std::map<std::string, double> out;
#ifdef BENTO_WITH_JEMALLOC
  // The figures are a snapshot taken when the epoch advances.
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
    return out;
  for (const char* name : {"allocated", "active", "resident", "mapped", "retained"}) {
    size_t value = 0;
    size_t size = sizeof value;
    if (mallctl((std::string("stats.") + name).c_str(), &value, &size, nullptr, 0) == 0)
      out[std::string(name) + "_bytes"] = static_cast<double>(value);
  }
#endif
  return out;
}

} // namespace bento::node
