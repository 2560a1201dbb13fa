// The demo's publishers: upload ids unique across runs, uploaded videos that reach ready
// with a duration, and the generators' statuses.
#include <catch2/catch.hpp>

#include <set>

#include "server_support.hpp"

using namespace test;

namespace {

// Uploads `filename` and returns the id of the video it creates, once created.
std::string upload(unsigned short port, const std::string& filename) {
    SseClient client(port, "/api/events");
    const auto r = request(port, http::verb::post, "/api/uploads", nlohmann::json{{"filename", filename}}.dump());
    REQUIRE(r.status == 202);
    while (auto e = client.next(3000ms))
        if (e->name == "video:created") return e->json()["videoId"];
    FAIL("no video:created");
    return {};
}

}  // namespace

TEST_CASE("regression: upload ids are unique across server runs, so a new upload no longer replaces a video") {
    std::set<std::string> upload_ids;
    std::set<std::string> video_ids;
    for (int run = 0; run < 2; ++run) {
        TestServer s;
        for (int i = 0; i < 2; ++i) {
            const auto r = request(s.port(), http::verb::post, "/api/uploads", R"({"filename":"a.mp4"})");
            REQUIRE(r.status == 202);
            const auto id = r.json()["uploadId"].get<std::string>();
            CHECK(id.rfind("upload-", 0) == 0);
            CHECK(upload_ids.insert(id).second);
        }
        CHECK(video_ids.insert(upload(s.port(), "b.mp4")).second);
    }
    CHECK(upload_ids.size() == 4);
}

TEST_CASE("regression: an uploaded video that reaches ready has a duration (the demo's Length column)") {
    TestServer s;
    const auto video_id = upload(s.port(), "cat.mp4");
    auto record = [&] {
        const auto videos = get(s.port(), "/api/videos").json()["videos"];
        for (const auto& v : videos)
            if (v["videoId"] == video_id) return v;
        return nlohmann::json();
    };
    CHECK(record()["duration"].is_null());  // as Mux: unknown until the asset is ready
    SseClient all(s.port(), "/api/events");
    REQUIRE(request(s.port(), http::verb::post, "/videos/" + video_id + "/process").status == 202);
    std::optional<SseEvent> ready;
    while (auto e = all.next(3000ms))
        if (e->name == "video:status:ready") {
            ready = e;
            break;
        }
    REQUIRE(ready);
    const auto event = ready->json();
    REQUIRE(event["duration"].is_number());
    CHECK(event["duration"].get<double>() > 0);
    CHECK(record()["status"] == "ready");
    CHECK(record()["duration"] == event["duration"]);
}

TEST_CASE("a video that has a duration keeps it through the pipeline") {
    // The demo webhook route makes a ready asset of 30 s.
    auto demo_config = test_config();
    demo_config.demo = true;
    TestServer demo(demo_config);
    SseClient events(demo.port(), "/api/events");
    const auto r = request(demo.port(), http::verb::post, "/api/demo/mux-webhook",
                           R"({"type":"video.asset.ready","assetId":"asset-1"})");
    REQUIRE(r.status == 200);
    REQUIRE(request(demo.port(), http::verb::post, "/videos/asset-1/process").status == 202);
    std::optional<nlohmann::json> ready;
    while (auto e = events.next(3000ms)) {
        // (The webhook's own event carries webhookType; the pipeline's does not.)
        if (e->name == "video:status:ready" && !e->json().contains("webhookType")) {
            ready = e->json();
            break;
        }
    }
    REQUIRE(ready);
    CHECK((*ready)["duration"] == 30.0);
}

TEST_CASE("the generators report running, paused and stopped, as strings") {
    auto c = test_config();
    c.demo = true;
    TestServer s(c);
    auto control = [&](const std::string& stream, const std::string& action) {
        return publish(s.port(), nlohmann::json::object(), publisher_key,
                       "/api/v1/events/stream/" + stream + "/" + action).json()["status"];
    };
    CHECK(control("system", "pause") == "paused");
    CHECK(control("system", "stop") == "stopped");
    CHECK(control("system", "start") == "running");
    const auto streams = get(s.port(), "/api/v1/events/streams").json()["streams"];
    REQUIRE(streams.is_array());
    for (const auto& st : streams) {
        const auto status = st["status"].get<std::string>();
        CHECK((status == "running" || status == "paused" || status == "stopped"));
    }
}
