#include "node/metrics/node_metrics.hpp"

#include <mutex>
#include <sstream>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "node/domain_client.hpp"

namespace bento::node {

struct node_metrics::impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests = prometheus::BuildCounter()
                                                        .Name("bento_http_requests_total")
                                                        .Help("HTTP requests by route, method and status")
                                                        .Register(registry);
  prometheus::Family<prometheus::Histogram>& latency = prometheus::BuildHistogram()
                                                         .Name("bento_http_request_duration_seconds")
                                                         .Help("HTTP request latency by route, method and status")
                                                         .Register(registry);
  prometheus::Family<prometheus::Gauge>& actors = prometheus::BuildGauge()
                                                    .Name("bento_entity_actors")
                                                    .Help("Active entity actors by kind")
                                                    .Register(registry);
  prometheus::Family<prometheus::Counter>& lifecycle = prometheus::BuildCounter()
                                                         .Name("bento_entity_lifecycle_total")
                                                         .Help("Entity activations, passivations and evictions (passivations forced by the cap)")
                                                         .Register(registry);
  prometheus::Family<prometheus::Gauge>& catalog = prometheus::BuildGauge()
                                                     .Name("bento_catalog_entries")
                                                     .Help("Entries in the menu read model by kind")
                                                     .Register(registry);
  prometheus::Family<prometheus::Gauge>& settling = prometheus::BuildGauge()
                                                      .Name("bento_orders_settling")
                                                      .Help("Orders with an interrupted stock change not yet settled "
                                                            "(stays at 0 unless a restaurant is unreachable)")
                                                      .Register(registry);
  prometheus::Family<prometheus::Counter>& settles = prometheus::BuildCounter()
                                                       .Name("bento_order_settles_total")
                                                       .Help("Interrupted stock changes settled, by outcome "
                                                             "(applied, not_applied) and failed attempts (retry)")
                                                       .Register(registry);
  prometheus::Family<prometheus::Counter>& clock = prometheus::BuildCounter()
                                                     .Name("bento_clock_regressions_total")
                                                     .Help("Times a restaurant was asked with a local day before "
                                                           "one it had seen (the wall clock or BENTO_TZ went back)")
                                                     .Register(registry);
  prometheus::Family<prometheus::Counter>& pruned = prometheus::BuildCounter()
                                                      .Name("bento_events_pruned_total")
                                                      .Help("Events deleted past BENTO_EVENT_RETENTION_S once "
                                                            "the catalog had applied them")
                                                      .Register(registry);
  prometheus::Family<prometheus::Counter>& rebuilds = prometheus::BuildCounter()
                                                        .Name("bento_catalog_shard_rebuilds_total")
                                                        .Help("Shards whose part of the catalog was rebuilt from "
                                                              "their records (their events had a gap: a snapshot "
                                                              "from a replica that had pruned them)")
                                                        .Register(registry);
  double last_settled_forward = 0, last_settled_back = 0, last_settle_retries = 0, last_clock_regressions = 0;
  double last_pruned = 0, last_rebuilds = 0;
  prometheus::Family<prometheus::Gauge>& rocksdb = prometheus::BuildGauge()
                                                     .Name("bento_rocksdb")
                                                     .Help("RocksDB statistics by name")
                                                     .Register(registry);
  prometheus::Family<prometheus::Gauge>& edge = prometheus::BuildGauge()
                                                  .Name("bento_edge")
                                                  .Help("Edge gauges by name")
                                                  .Register(registry);
  prometheus::Family<prometheus::Gauge>& cluster = prometheus::BuildGauge()
                                                     .Name("bento_cluster")
                                                     .Help("Cluster gauges by name: shards led and replicated "
                                                           "here, consensus frames, peers and rejected peer input")
                                                     .Register(registry);
  const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  // Handles are cached: Family::Add takes a lock and hashes labels on every call.
  std::mutex mutex;
  std::unordered_map<std::string, prometheus::Counter*> counters;
  std::unordered_map<std::string, prometheus::Histogram*> histograms;
  double last_activations = 0;
  double last_passivations = 0;
  double last_evictions = 0;
};

namespace {

/// Label values must come from a fixed set: an invented method per request made /metrics grow without bound
/// (20,000 methods: 394 MB and 9 s to render).
const std::string& method_label(const std::string& method) {
  static const std::string known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  static const std::string other = "OTHER";
  for (auto& k : known)
    if (k == method)
      return k;
  return other;
}

} // namespace

node_metrics::node_metrics() : impl_(std::make_unique<impl>()) {}

node_metrics::~node_metrics() = default;

void node_metrics::observe_request(const std::string& route, const std::string& raw_method, int status,
                                   double seconds) {
  const auto& method = method_label(raw_method);
  // Statuses are ours, but clamp anyway: the label set stays bounded by construction.
  auto status_text = status >= 100 && status <= 599 ? std::to_string(status) : std::string("other");
  auto counter_key = route + '\0' + method + '\0' + status_text;
  // Latency by status too: a fast 4xx and a slow 201 on one route are different stories.
  const auto& histogram_key = counter_key;
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    std::lock_guard lock(impl_->mutex);
    auto c = impl_->counters.find(counter_key);
    if (c == impl_->counters.end())
      c = impl_->counters
            .emplace(counter_key,
                     &impl_->requests.Add({{"route", route}, {"method", method}, {"status", status_text}}))
            .first;
    counter = c->second;
    auto h = impl_->histograms.find(histogram_key);
    if (h == impl_->histograms.end())
      h = impl_->histograms
            .emplace(histogram_key, &impl_->latency.Add({{"route", route}, {"method", method}, {"status", status_text}},
                                                    impl_->buckets))
            .first;
    histogram = h->second;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

std::string node_metrics::render(const entity_stats* entities, const std::map<std::string, double>& store_stats,
                                 const std::map<std::string, double>& edge_gauges,
                                 const std::map<std::string, double>& cluster_gauges) {
  if (entities) {
    impl_->actors.Add({{"kind", "user"}}).Set(static_cast<double>(entities->users));
    impl_->actors.Add({{"kind", "restaurant"}}).Set(static_cast<double>(entities->restaurants));
    impl_->actors.Add({{"kind", "order"}}).Set(static_cast<double>(entities->orders));
    std::lock_guard lock(impl_->mutex);
    auto act = static_cast<double>(entities->activations);
    auto pas = static_cast<double>(entities->passivations);
    impl_->lifecycle.Add({{"event", "activation"}}).Increment(act - impl_->last_activations);
    impl_->lifecycle.Add({{"event", "passivation"}}).Increment(pas - impl_->last_passivations);
    impl_->last_activations = act;
    impl_->last_passivations = pas;
    auto ev = static_cast<double>(entities->evictions);
    impl_->lifecycle.Add({{"event", "eviction"}}).Increment(ev - impl_->last_evictions);
    impl_->last_evictions = ev;
    impl_->settling.Add({}).Set(static_cast<double>(entities->orders_settling));
    auto bump = [](prometheus::Counter& c, double now, double& last) {
      if (now > last)
        c.Increment(now - last);
      last = now;
    };
    bump(impl_->settles.Add({{"outcome", "applied"}}), static_cast<double>(entities->settled_forward),
         impl_->last_settled_forward);
    bump(impl_->settles.Add({{"outcome", "not_applied"}}), static_cast<double>(entities->settled_back),
         impl_->last_settled_back);
    bump(impl_->settles.Add({{"outcome", "retry"}}), static_cast<double>(entities->settle_retries),
         impl_->last_settle_retries);
    bump(impl_->clock.Add({}), static_cast<double>(entities->clock_regressions), impl_->last_clock_regressions);
    impl_->catalog.Add({{"kind", "restaurant"}}).Set(static_cast<double>(entities->catalog_restaurants));
    impl_->catalog.Add({{"kind", "item"}}).Set(static_cast<double>(entities->catalog_items));
    bump(impl_->pruned.Add({}), static_cast<double>(entities->events_pruned), impl_->last_pruned);
    bump(impl_->rebuilds.Add({}), static_cast<double>(entities->catalog_shard_rebuilds), impl_->last_rebuilds);
  }
  for (auto& [name, value] : store_stats)
    impl_->rocksdb.Add({{"stat", name}}).Set(value);
  for (auto& [name, value] : edge_gauges)
    impl_->edge.Add({{"gauge", name}}).Set(value);
  for (auto& [name, value] : cluster_gauges)
    impl_->cluster.Add({{"gauge", name}}).Set(value);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry.Collect());
  return out.str();
}

} // namespace bento::node
