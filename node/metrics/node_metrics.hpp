#pragma once
// Prometheus metrics of a node (prometheus-cpp): request counts and latency histograms by route and status,
// plus gauges sampled when /metrics is scraped (entity actors, catalog, RocksDB, connections).
#include <map>
#include <memory>
#include <string>

namespace bento::node {

struct entity_stats;

class node_metrics {
public:
  node_metrics();
  ~node_metrics();

  /// route is the pattern ("/api/v1/orders/{id}") or "unmatched", never the raw path; methods other than the
  /// standard ones count as "OTHER": label cardinality stays bounded whatever clients send.
  void observe_request(const std::string& route, const std::string& method, int status, double seconds);

  /// Sets the sampled gauges and renders everything in the Prometheus text format.
  std::string render(const entity_stats* entities, const std::map<std::string, double>& store_stats,
                     const std::map<std::string, double>& edge_gauges,
                     const std::map<std::string, double>& cluster_gauges = {});

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace bento::node
