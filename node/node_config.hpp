#pragma once
// Every setting of a node, read only from BENTO_* environment variables, each with a safe default and bounds.
// A bad value stops the node at start with a message naming the variable (exit code 2).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocol/domain/outcome.hpp"

namespace bento::node {

struct node_config {
  std::string bind = "127.0.0.1";
  uint16_t http_port = 8080;
  uint16_t client_port = 7410;
  uint16_t cluster_port = 4710;
  std::string data_dir = "./data";
  std::string node_id;          // default: the one recorded in the data dir, else the host name
  bool node_id_given = false;   // BENTO_NODE_ID was set (a data dir formed under another id refuses it)
  std::string log_level = "info";
  std::string secret;           // token signing key; empty: generated once and kept in the data dir
  std::string time_zone = "Asia/Taipei";
  uint32_t rate_limit = 0;      // requests/s per client address, burst equal; 0 = off
  bool sync_writes = false;
  uint32_t http_threads = 1;      // default: default_http_threads(usable CPUs)
  uint32_t scheduler_threads = 1; // default: default_scheduler_threads(usable CPUs)
  std::string scheduler_policy = "sharing"; // CAF's: "sharing" (one shared queue) or "stealing" (work stealing)
  uint32_t hash_workers = 2;
  uint32_t argon2_ops = 2;
  uint32_t argon2_mem_kib = 65536;
  uint32_t token_ttl_s = 86400;
  uint32_t login_lockout_ms = 1000; // first lockout after repeated failed logins; doubles per further failure
  uint32_t request_timeout_ms = 10000;
  uint32_t idle_passivate_s = 300;
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_address = 1000; // default: a tenth of max_connections
  std::string trusted_proxies;  // comma-separated IPs/CIDRs whose X-Forwarded-For is believed
  std::string metrics_token;    // when set, GET /metrics needs "Authorization: Bearer <token>"
  std::string admin_token;      // when set, /api/v1/admin calls need "Authorization: Bearer <token>"; unset: refused
  uint32_t max_active_entities = 100000;
  std::string client_advertise;           // host:port clients reach this node's client port at (shard maps)
  uint32_t client_frame_max_bytes = 1u << 20;
  uint32_t client_max_in_flight = 128;    // per connection, before the node stops reading it
  uint32_t client_buffer_mib = 256;       // answers held or expected by all client connections before reading stops
  uint32_t client_idle_s = 300;
  uint32_t client_io_timeout_ms = 10000;  // a frame body must arrive, and a reply be written, within this
  uint32_t event_retention_s = 3600; // events the catalog applied are deleted after this; 0 = kept forever
  uint16_t shards = 64;         // fixed when the data dir (later: the cluster) is formed
  uint32_t replace_after_s = 300; // a member down this long loses its seats to live members; 0 = never
  uint32_t replicas = 3;        // replicas of each shard, capped by the members when the cluster forms
  uint32_t tick_ms = 100;       // consensus tick; elections after 10-20 ticks without a leader
  uint32_t raft_keep_entries = 10000; // log kept behind the applied index before compaction (then snapshots)
  uint32_t listing_workers = 2;      // threads that run order listings (RocksDB scans), off the scheduler
  uint32_t listing_queue = 256;      // listings waiting for a worker, all callers together; beyond: 429
  uint32_t max_restaurants_per_merchant = 20;

  // Cluster (cluster/transport, cluster/membership; node/cluster_setup turns these into their settings).
  // No seeds: a one-node cluster.
  std::vector<std::string> seeds;     // host:port of other nodes' cluster ports
  std::string cluster_secret;         // shared by all nodes; required with seeds; never sent (challenge-response)
  std::string cluster_advertise;      // host:port other nodes dial to reach this one
  std::string tls_cert;               // PEM files: all three or none
  std::string tls_key;
  std::string tls_ca;
  uint32_t heartbeat_ms = 100;
  uint32_t suspect_ms = 500;
  uint32_t down_ms = 1000;
  uint32_t peer_frame_max_bytes = 8u << 20;
};

struct option_doc {
  std::string name;
  std::string description;
  std::string default_value;
};

/// Everything the node reads, for `bento-node --help` and docs.
const std::vector<option_doc>& option_docs();

using env_lookup = std::function<const char*(const char*)>;

/// Thread counts by the CPUs the node may run on: half for actors, a quarter for HTTP I/O (at least one each),
/// the rest left to RocksDB's flushes and compactions, the client port and the OS. More threads than that
/// only trade CPU for context switches: on 2 CPUs shared with the load generator, one actor thread and one I/O
/// thread placed 18 % more orders than two of each, at 19 % less CPU per order (bench/paired.py).
uint32_t default_scheduler_threads(uint32_t cpus);
uint32_t default_http_threads(uint32_t cpus);
/// The CPUs this process may run on: its affinity mask (a container's cpuset), within its cgroup's CPU quota.
uint32_t usable_cpus();

domain::outcome<node_config> load_config(const env_lookup& getenv);

} // namespace bento::node
