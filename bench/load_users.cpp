// Writes N customers straight into a stopped single node's data dir, each as its registration writes it
// (actors::registration_batch: record, id index entry, event, in the user's shard), for bench/scale.py --users.
// Registering a million users through the API would take hours of password hashing (by design) and meet its
// per-address throttle. Every user gets the same password (hashed once, with the Argon2 settings given) so
// that the benchmark can log any of them in.
//
// Usage: bento-bench-load-users DATA_DIR COUNT [FIRST]   (users bulk_FIRST .. bulk_FIRST+COUNT-1, password
//        "bulk password 1"; BENTO_SHARDS, BENTO_ARGON2_MEM_KIB and BENTO_ARGON2_OPS as the node's)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "actors/common/keys.hpp"
#include "actors/crypto/password_hasher.hpp"
#include "actors/store/entity_store.hpp"
#include "actors/store/shard_store.hpp"
#include "actors/store/store_layout.hpp"
#include "actors/user/user_records.hpp"
#include "actors/user/user_state.hpp"
#include "protocol/domain/calendar.hpp"
#include "protocol/domain/ids.hpp"
#include "protocol/domain/validation.hpp"

using namespace bento;

namespace {

unsigned long long env_number(const char* name, unsigned long long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

int fail(const std::string& why) {
  std::fprintf(stderr, "load-users: %s\n", why.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3)
    return fail("usage: bento-bench-load-users DATA_DIR COUNT [FIRST]");
  std::string data_dir = argv[1];
  auto count = std::strtoull(argv[2], nullptr, 10);
  auto first = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0ull;
  store::store_options so;
  so.path = data_dir + "/db";
  so.shards = static_cast<domain::shard_id>(env_number("BENTO_SHARDS", domain::default_shard_count));
  auto opened = store::entity_store::open(so);
  if (!opened)
    return fail("cannot open the store (is the node stopped?): " + opened.error().message);
  auto& db = **opened;
  if (auto layout = actors::ensure_store_layout(db); !layout)
    return fail("store layout: " + layout.error().message);
  // A cluster member's shards are replicated: users written into one member's store alone would leave it
  // different from its peers and from its own log.
  auto member = db.get(store::column::meta, actors::cluster_members_meta_key);
  if (!member)
    return fail("cannot read the store: " + member.error().message);
  if (*member)
    return fail("this data dir is a cluster member's: load users into a single node's data dir only");
  store::shard_set shards(db);

  actors::hash_settings hs;
  hs.mem_limit_bytes = env_number("BENTO_ARGON2_MEM_KIB", 65536) * 1024;
  hs.ops_limit = env_number("BENTO_ARGON2_OPS", 2);
  const std::string password = "bulk password 1";
  auto hash = actors::hash_password(password, hs);
  if (!hash)
    return fail("password hash: " + hash.error().message);

  auto started = std::chrono::steady_clock::now();
  std::vector<store::write_batch> pending(db.shard_count());
  std::vector<size_t> users_in(db.shard_count(), 0);
  auto flush = [&](domain::shard_id s) -> bool {
    if (users_in[s] == 0)
      return true;
    auto done = shards.of(s).commit(pending[s]);
    pending[s] = store::write_batch{};
    users_in[s] = 0;
    if (!done)
      std::fprintf(stderr, "load-users: write to shard %u failed: %s\n", static_cast<unsigned>(s),
                   done.error().message.c_str());
    return bool(done);
  };
  actors::user_state rules;
  auto now = domain::now_ms();
  for (unsigned long long i = first; i < first + count; ++i) {
    domain::register_user cmd;
    cmd.username = "bulk_" + std::to_string(i);
    cmd.password = password;
    cmd.email = cmd.username + "@example.com";
    cmd.role = domain::role::customer;
    cmd.place = "taipei";
    if (auto bad = domain::check_registration(cmd))
      return fail("user " + cmd.username + ": " + bad->message);
    auto u = rules.make_user(cmd, *hash, domain::random_id("u_"), now);
    auto shard = domain::shard_of(actors::keys::user_entity(u.username), db.shard_count());
    pending[shard].append(actors::registration_batch(u));
    if (++users_in[shard] == 500 && !flush(shard))
      return 1;
  }
  for (domain::shard_id s = 0; s < db.shard_count(); ++s)
    if (!flush(s))
      return 1;
  db.close();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("loaded %llu users (bulk_%llu..bulk_%llu) in %.1f s\n", count, first, first + count - 1, secs);
  return 0;
}
