// Starting the server: host names, IPv6 URLs, the static and data directories, --demo on a
// public address, and the secrets kept across restarts.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "server_support.hpp"

using namespace test;
using ssebus::server::ConfigError;
using ssebus::server::Server;

TEST_CASE("a host name is resolved and every address it gives is listened on, on one port") {
    auto c = test_config();
    c.address = "localhost";
    TestServer s(c);
    const auto urls = s.server.urls();
    REQUIRE(!urls.empty());
    for (const auto& u : urls) {
        INFO(u);
        CHECK((u == "http://127.0.0.1:" + std::to_string(s.port()) || u == "http://[::1]:" + std::to_string(s.port())));
    }
    CHECK(get(s.port(), "/healthz").status == 200);
}

TEST_CASE("regression: a name that does not resolve is a ConfigError, not an uncaught exception") {
    for (const std::string bad : {"no-such-host.invalid", "256.1.1.1", ""}) {
        auto c = test_config();
        c.address = bad;
        Server server(c);
        INFO(bad);
        CHECK_THROWS_AS(server.start(), ConfigError);
    }
}

TEST_CASE("an IPv6 address is written in brackets in its URL") {
    auto c = test_config();
    c.address = "::1";
    Server server(c);
    try {
        server.start();
    } catch (const std::system_error&) {
        WARN("no IPv6 loopback on this machine");
        return;
    }
    CHECK(server.urls() == std::vector<std::string>{"http://[::1]:" + std::to_string(server.port())});
}

TEST_CASE("the demo on an address that is not loopback needs demo_public_key") {
    auto c = test_config();
    c.demo = true;
    c.address = "0.0.0.0";
    Server server(c);
    CHECK_THROWS_WITH(server.start(), Catch::Contains("--demo-public-key"));
    // On loopback it starts as before.
    c.address = "127.0.0.1";
    TestServer fine(c);
    CHECK(get(fine.port(), "/api/demo/config").status == 200);
}

TEST_CASE("a static dir that does not exist fails at start, naming it") {
    auto c = test_config();
    c.static_dir = "/nonexistent/ssebus-static";
    Server server(c);
    CHECK_THROWS_WITH(server.start(), Catch::Contains("/nonexistent/ssebus-static"));
}

TEST_CASE("the data directory keeps the secrets that were made up") {
    TempDir tmp;
    const auto dir = tmp.path / "data";
    auto c = test_config();
    c.jwt_secret.clear();
    c.publisher_key.clear();
    c.mux_secret.clear();
    c.demo = true;
    c.data_dir = dir.string();

    std::string key;
    std::string token;
    {
        TestServer first(c);
        CHECK(first.server.generated_secrets() == std::vector<std::string>{"jwt_secret", "publisher_key", "mux_secret"});
        CHECK(first.server.kept_secrets().empty());
        struct stat st{};
        REQUIRE(::stat(dir.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0700);
        REQUIRE(::stat((dir / "secrets.json").c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        key = first.server.config().publisher_key;
        CHECK(key.size() == 32);
        const auto login = request(first.port(), http::verb::post, "/api/login", R"({"user":"ana"})");
        REQUIRE(login.status == 200);
        token = login.json()["token"].get<std::string>();
    }
    TestServer second(c);
    CHECK(second.server.generated_secrets().empty());
    CHECK(second.server.kept_secrets() == std::vector<std::string>{"jwt_secret", "publisher_key", "mux_secret"});
    CHECK(second.server.config().publisher_key == key);
    CHECK(publish(second.port(), {{"event", "kept"}}, key).status == 202);
    // A token of the first run still identifies its user.
    SseClient stream(second.port(), "/api/sse?token=" + token);
    CHECK(stream.status() == 200);
}

TEST_CASE("secrets that are given are used and not written") {
    TempDir tmp;
    auto c = test_config();
    c.data_dir = (tmp.path / "data").string();
    TestServer s(c);
    CHECK(s.server.generated_secrets().empty());
    CHECK(s.server.config().publisher_key == publisher_key);
    CHECK_FALSE(std::filesystem::exists(tmp.path / "data" / "secrets.json"));
}

TEST_CASE("a data directory that cannot be created or written is a ConfigError naming it") {
    TempDir tmp;
    const auto file = tmp.path / "a-file";
    std::ofstream(file) << "x";
    for (const auto& dir : {file, file / "data"}) {
        auto c = test_config();
        c.data_dir = dir.string();
        INFO(dir.string());
        try {
            Server server(c);
            FAIL("no error");
        } catch (const ConfigError& e) {
            CHECK(std::string(e.what()).find(dir.string()) != std::string::npos);
        }
    }
    // secrets.json that is not an object is not silently replaced.
    const auto dir = tmp.path / "broken";
    std::filesystem::create_directory(dir);
    std::ofstream(dir / "secrets.json") << "[1, 2]";
    auto c = test_config();
    c.publisher_key.clear();
    c.data_dir = dir.string();
    CHECK_THROWS_AS(Server(c), ConfigError);
}
