// TLS links: certificates made here with the openssl command line, in a temporary directory.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "tests/support/cluster_node.hpp"
#include "tests/support/temp_dir.hpp"

using namespace bento::test;

namespace {

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

// A CA, and certificates it signs, all with P-256 keys (quick to make).
struct test_ca {
  test_ca(const temp_dir& dir, const std::string& name) : dir_(dir), name_(name) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + name
        + " -keyout " + dir / (name + ".key") + " -out " + dir / (name + ".pem"));
  }
  std::string ca_file() const { return dir_ / (name_ + ".pem"); }

  tp::tls_files issue(const std::string& node) const {
    auto base = dir_ / (name_ + "-" + node);
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + node + " -keyout "
        + base + ".key -out " + base + ".csr");
    run("openssl x509 -req -days 2 -in " + base + ".csr -CA " + ca_file() + " -CAkey " + dir_ / (name_ + ".key")
        + " -CAcreateserial -out " + base + ".pem");
    return tp::tls_files{base + ".pem", base + ".key", ca_file()};
  }

  const temp_dir& dir_;
  std::string name_;
};

tp::transport_config tls_node(const std::string& id, tp::tls_files files) {
  auto c = node_config(id);
  c.tls = std::move(files);
  return c;
}

} // namespace

TEST_CASE("transport over TLS: certificates from the cluster CA work, others are refused", "[unit][transport]") {
  temp_dir dir;
  test_ca ca(dir, "cluster-ca");
  test_ca foreign(dir, "foreign-ca");

  cluster_node a(tls_node("node-a", ca.issue("node-a")));
  a.start();
  cluster_node b(tls_node("node-b", ca.issue("node-b")));
  b.start();
  REQUIRE(b.transport().add_peer(a.address()));
  REQUIRE(eventually([&] { return a.connected_to("node-b") && b.connected_to("node-a"); }));
  REQUIRE(a.transport().send("node-b", "over tls") == tp::errc::none);
  REQUIRE(b.transport().send("node-a", "over tls too") == tp::errc::none);
  REQUIRE(b.wait_frames(1));
  REQUIRE(a.wait_frames(1));
  CHECK(b.frames()[0].bytes == "over tls");

  // Both links up (b dialled a, a dialled back): two sessions per side, none lost from here on.
  REQUIRE(eventually([&] {
    return a.peer("node-b")->state == tp::link_state::up && b.peer("node-a")->state == tp::link_state::up
           && a.transport().stats().total.handshakes == 2 && b.transport().stats().total.handshakes == 2;
  }));
  auto handshakes_before = a.transport().stats().total.handshakes;
  SECTION("a certificate from another CA, trusting that CA") {
    cluster_node x(tls_node("node-x", foreign.issue("node-x")));
    x.start();
    REQUIRE(x.transport().add_peer(a.address()));
    REQUIRE(a.transport().add_peer(x.address()));
    REQUIRE(eventually([&] { return x.transport().stats().total.link_failures >= 2; }));
    CHECK(x.transport().connected_peers().empty());
    CHECK_FALSE(a.connected_to("node-x"));
    CHECK(x.transport().stats().total.handshakes == 0);
  }
  SECTION("a certificate from another CA, trusting the cluster CA") {
    auto files = foreign.issue("node-y");
    files.ca = ca.ca_file();
    cluster_node y(tls_node("node-y", files));
    // Its own certificate does not verify against the CA it names: refused at start, not at the first link.
    auto r = y.try_start();
    CHECK_FALSE(r);
    CHECK(r.code == tp::errc::invalid_config);
    CHECK_THAT(r.message, Catch::Contains("not signed by BENTO_TLS_CA"));
  }
  SECTION("a node without TLS") {
    cluster_node p(node_config("node-p"));
    p.start();
    REQUIRE(p.transport().add_peer(a.address()));
    REQUIRE(eventually([&] { return p.transport().stats().total.link_failures >= 2; }));
    CHECK(p.transport().connected_peers().empty());
    CHECK_FALSE(a.connected_to("node-p"));
  }
  // Nothing of theirs reached the handshake: TLS stopped them first. And the refused connections cost the
  // healthy a-b link nothing (CAF's OpenSSL module used to drop it: openssl_error_queue.cpp).
  CHECK(a.transport().stats().total.handshakes == handshakes_before);
  CHECK(a.peer("node-b")->counters.sessions_closed == 0);
  CHECK(b.peer("node-a")->counters.sessions_closed == 0);
  CHECK(a.transport().stats().unattributed.bad_proof == 0);
  CHECK(a.transport().stats().unattributed.malformed == 0);
  // And the cluster still works.
  REQUIRE(b.transport().send("node-a", "still here") == tp::errc::none);
  REQUIRE(eventually([&] { return a.frame_count() >= 2; }));
}

TEST_CASE("transport over TLS: files that do not load stop the start, naming the file", "[unit][transport]") {
  temp_dir dir;
  test_ca ca(dir, "cluster-ca");
  auto files = ca.issue("node-a");
  auto other = ca.issue("node-b");
  auto start_with = [&](tp::tls_files f) {
    cluster_node n(tls_node("node-a", std::move(f)));
    return n.try_start();
  };
  auto missing = files;
  missing.certificate = dir / "nope.pem";
  auto r = start_with(missing);
  CHECK_FALSE(r);
  CHECK_THAT(r.message, Catch::Contains("BENTO_TLS_CERT"));
  auto mismatched = files;
  mismatched.private_key = other.private_key;
  r = start_with(mismatched);
  CHECK_FALSE(r);
  CHECK_THAT(r.message, Catch::Contains("BENTO_TLS_KEY"));
  auto bad_ca = files;
  bad_ca.ca = files.private_key;
  r = start_with(bad_ca);
  CHECK_FALSE(r);
  CHECK_THAT(r.message, Catch::Contains("BENTO_TLS_CA"));
  CHECK(start_with(files));
}
