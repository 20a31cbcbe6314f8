#pragma once
// The node's memory allocator: jemalloc, linked into bento-node (not into the libraries or the tests' builds
// with sanitizers). Measured on the lunch rush (bench/paired.py, 3 pairs): place-order +23 % orders/s and -15 %
// node CPU per order against glibc's malloc, menu reads +4 %; the idle entity and RSS per stored order within
// 2 % (bench/scale.py). glibc's arenas spent ~11 % of a place-order node's CPU in malloc/free/consolidate.
#include <map>
#include <string>

namespace bento::node {

/// Which allocator this binary runs on ("jemalloc" or "libc").
const char* allocator_name() noexcept;

/// The allocator's own figures for /metrics (bytes allocated, active, resident, mapped, retained); empty when
/// the allocator keeps none.
std::map<std::string, double> allocator_stats();

} // namespace bento::node
