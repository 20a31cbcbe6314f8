#pragma once
// RocksDB's own log, through the node's structured log instead of a LOG file in the data dir: one place for
// an operator to look, and no file on the data disk that RocksDB writes outside its error handling (with a full
// disk, its LOG writer's failed state tripped an assertion in Debian's build when RocksDB logged its recovery).
#include <memory>

namespace rocksdb {
class Logger;
}

namespace bento::store {

/// Messages at warn level and above (RocksDB's info level is a running commentary of flushes and compactions).
std::shared_ptr<rocksdb::Logger> make_rocksdb_logger();

} // namespace bento::store
