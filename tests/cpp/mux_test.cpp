// Mux webhooks: the Mux-Signature header, its verification, and the video records and
// server events the webhooks become.
#include <catch2/catch.hpp>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <string>

#include "mux.hpp"

using namespace ssebus::server::mux;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string digest_a(64, 'a');
const std::string digest_b = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// A known vector, computed outside this code with
//   printf '%s' "$t.$body" | openssl dgst -sha256 -hmac "$secret"
const std::string known_secret = "mux-test-secret";
const std::int64_t known_t = 1565125718;
const std::string known_body = R"({"type":"video.asset.ready","id":"wh-1"})";
const std::string known_v1 = "a5b3a28aba1716187f94c6730fcf54691dccf1c906ce45eeca97f246751c676e";

std::chrono::system_clock::time_point at(std::int64_t unix_seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

// "2019-08-06T21:08:38.000Z": digits where the template has '0'.
bool is_iso8601(const json& value) {
    const std::string shape = "0000-00-00T00:00:00.000Z";
    if (!value.is_string() || value.get<std::string>().size() != shape.size()) return false;
    const auto& s = value.get_ref<const std::string&>();
    for (std::size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == '0' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) return false;
    return true;
}

json webhook(const std::string& type, const std::string& id, json data) {
    return {{"type", type}, {"id", id}, {"created_at", "2024-01-01T00:00:00.000000Z"}, {"data", std::move(data)}};
}

std::vector<std::string> names(const VideoStore::Applied& applied) {
    std::vector<std::string> out;
    for (const auto& e : applied.events) out.push_back(e.name);
    return out;
}

}  // namespace

TEST_CASE("the Mux-Signature header is parsed strictly") {
    SECTION("valid") {
        const auto h = parse_signature_header("t=1565125718,v1=" + digest_b);
        REQUIRE(h);
        CHECK(h->timestamp == 1565125718);
        CHECK(h->v1 == std::vector<std::string>{digest_b});
    }
    SECTION("spaces and tabs around items") {
        const auto h = parse_signature_header("  t=12 ,\tv1=" + digest_a + " ");
        REQUIRE(h);
        CHECK(h->timestamp == 12);
        CHECK(h->v1 == std::vector<std::string>{digest_a});
    }
    SECTION("several v1, in any order with t") {
        const auto h = parse_signature_header("v1=" + digest_a + ",t=5,v1=" + digest_b);
        REQUIRE(h);
        CHECK(h->timestamp == 5);
        CHECK(h->v1 == std::vector<std::string>{digest_a, digest_b});
    }
    SECTION("unknown keys are ignored, whatever their value") {
        const auto h = parse_signature_header("t=5,v0=xyz,v1=" + digest_a + ",v2=,future=a=b");
        REQUIRE(h);
        CHECK(h->v1 == std::vector<std::string>{digest_a});
    }
    SECTION("upper-case hex is accepted and kept in lower case") {
        std::string upper = digest_b;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const auto h = parse_signature_header("t=5,v1=" + upper);
        REQUIRE(h);
        CHECK(h->v1 == std::vector<std::string>{digest_b});
    }
    SECTION("missing t, or t twice") {
        CHECK_FALSE(parse_signature_header("v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=1,t=1,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + ",t=2"));
    }
    SECTION("no v1") {
        CHECK_FALSE(parse_signature_header("t=1"));
        CHECK_FALSE(parse_signature_header("t=1,v0=" + digest_a));
    }
    SECTION("bad hex") {
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a.substr(1)));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + "a"));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a.substr(1) + "g"));
        CHECK_FALSE(parse_signature_header("t=1,v1="));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + ",v1=nothex"));
    }
    SECTION("t must be plain decimal digits that fit in int64") {
        CHECK_FALSE(parse_signature_header("t=-1,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=+1,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=1.5,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=0x10,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=1 2,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=9223372036854775808,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=99999999999999999999999,v1=" + digest_a));
        const auto max = parse_signature_header("t=9223372036854775807,v1=" + digest_a);
        REQUIRE(max);
        CHECK(max->timestamp == INT64_MAX);
    }
    SECTION("empty header, empty items, items without '='") {
        CHECK_FALSE(parse_signature_header(""));
        CHECK_FALSE(parse_signature_header("   "));
        CHECK_FALSE(parse_signature_header(","));
        CHECK_FALSE(parse_signature_header("t=1,,v1=" + digest_a));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + ","));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + ",junk"));
        CHECK_FALSE(parse_signature_header("t=1,v1=" + digest_a + ",=x"));
        CHECK_FALSE(parse_signature_header("t = 1,v1=" + digest_a));
    }
    SECTION("at most 4 KiB") {
        const std::string base = "t=1,v1=" + digest_a + ",x=";
        CHECK(parse_signature_header(base + std::string(4096 - base.size(), 'y')));
        CHECK_FALSE(parse_signature_header(base + std::string(4097 - base.size(), 'y')));
    }
}

TEST_CASE("a webhook's signature is verified") {
    const std::string secret = "whsec";
    const std::string body = R"({"type":"video.asset.created","id":"wh-1","data":{"id":"a1"}})";
    const std::int64_t t = 1'700'000'000;
    const auto now = at(t);

    SECTION("sign_header makes what Mux sends") {
        CHECK(sign_header(known_secret, known_body, known_t) == "t=1565125718,v1=" + known_v1);
    }
    SECTION("a known vector, computed with openssl") {
        CHECK(verify_signature("t=1565125718,v1=" + known_v1, known_body, known_secret, at(known_t)) == Verdict::ok);
    }
    SECTION("ok") {
        CHECK(verify_signature(sign_header(secret, body, t), body, secret, now) == Verdict::ok);
    }
    SECTION("ok when any one of several v1 matches") {
        const auto header = sign_header(secret, body, t);
        const auto v1 = header.substr(header.find("v1=") + 3);
        CHECK(verify_signature("t=" + std::to_string(t) + ",v1=" + digest_a + ",v1=" + v1, body, secret, now) ==
              Verdict::ok);
    }
    SECTION("bad signature: another secret, or no secret at all") {
        CHECK(verify_signature(sign_header("other", body, t), body, secret, now) == Verdict::bad_signature);
        CHECK(verify_signature(sign_header(secret, body, t), body, "", now) == Verdict::bad_signature);
        CHECK(verify_signature(sign_header("", body, t), body, "", now) == Verdict::bad_signature);
    }
    SECTION("bad signature: the body changed by one byte") {
        std::string changed = body;
        changed[changed.size() - 3] = 'x';
        CHECK(verify_signature(sign_header(secret, body, t), changed, secret, now) == Verdict::bad_signature);
        CHECK(verify_signature(sign_header(secret, body, t), body + " ", secret, now) == Verdict::bad_signature);
    }
    SECTION("bad signature: the timestamp changed") {
        auto header = sign_header(secret, body, t);
        header.replace(0, header.find(','), "t=" + std::to_string(t + 1));
        CHECK(verify_signature(header, body, secret, now) == Verdict::bad_signature);
    }
    SECTION("stale, in the past and in the future") {
        CHECK(verify_signature(sign_header(secret, body, t - 300), body, secret, now) == Verdict::ok);
        CHECK(verify_signature(sign_header(secret, body, t - 301), body, secret, now) == Verdict::stale);
        CHECK(verify_signature(sign_header(secret, body, t + 300), body, secret, now) == Verdict::ok);
        CHECK(verify_signature(sign_header(secret, body, t + 301), body, secret, now) == Verdict::stale);
        CHECK(verify_signature(sign_header(secret, body, 0), body, secret, now) == Verdict::stale);
        CHECK(verify_signature(sign_header(secret, body, INT64_MAX), body, secret, now) == Verdict::stale);
    }
    SECTION("the tolerance can be changed") {
        CHECK(verify_signature(sign_header(secret, body, t - 10), body, secret, now, 5s) == Verdict::stale);
        CHECK(verify_signature(sign_header(secret, body, t - 10), body, secret, now, 10s) == Verdict::ok);
        CHECK(verify_signature(sign_header(secret, body, t), body, secret, now, 0s) == Verdict::ok);
    }
    SECTION("a forged old header is a bad signature, not stale") {
        CHECK(verify_signature(sign_header("other", body, t - 3600), body, secret, now) == Verdict::bad_signature);
    }
    SECTION("missing and malformed") {
        CHECK(verify_signature("", body, secret, now) == Verdict::missing);
        CHECK(verify_signature("v1=" + digest_a, body, secret, now) == Verdict::malformed);
        CHECK(verify_signature("garbage", body, secret, now) == Verdict::malformed);
        CHECK(verify_signature("t=-5,v1=" + digest_a, body, secret, now) == Verdict::malformed);
    }
    SECTION("verdicts read well in an error message") {
        CHECK(to_string(Verdict::ok) == "ok");
        CHECK(to_string(Verdict::missing) == "missing signature");
        CHECK(to_string(Verdict::malformed) == "malformed signature");
        CHECK(to_string(Verdict::bad_signature) == "bad signature");
        CHECK(to_string(Verdict::stale) == "stale timestamp");
    }
}

TEST_CASE("webhooks become video records and server events") {
    VideoStore store;
    const json created_data{{"id", "asset-1"}, {"status", "preparing"}, {"created_at", "1565125718"},
                            {"upload_id", "u1"}, {"passthrough", "x"}};
    const json ready_data{{"id", "asset-1"},
                          {"status", "ready"},
                          {"duration", 12.5},
                          {"aspect_ratio", "16:9"},
                          {"playback_ids", {{{"id", "p0"}, {"policy", "signed"}}, {{"id", "p1"}, {"policy", "public"}}}}};

    SECTION("created -> video:created, with the record as data") {
        const auto applied = store.apply(webhook("video.asset.created", "wh-1", created_data));
        CHECK_FALSE(applied.duplicate);
        CHECK_FALSE(applied.ignored);
        REQUIRE(names(applied) == std::vector<std::string>{"video:created"});
        const auto& data = applied.events[0].data;
        CHECK(data["videoId"] == "asset-1");
        CHECK(data["status"] == "preparing");
        CHECK(data["playbackId"].is_null());
        CHECK(data["duration"].is_null());
        CHECK(data["aspectRatio"].is_null());
        CHECK(data["uploadId"] == "u1");
        CHECK(data["createdAt"] == "2019-08-06T21:08:38.000Z");
        CHECK(is_iso8601(data["updatedAt"]));
        CHECK(data["webhookType"] == "video.asset.created");
        CHECK(store.size() == 1);
    }
    SECTION("ready -> video:status:ready then video:updated, and the record is complete") {
        store.apply(webhook("video.asset.created", "wh-1", created_data));
        const auto applied = store.apply(webhook("video.asset.ready", "wh-2", ready_data));
        REQUIRE(names(applied) == std::vector<std::string>{"video:status:ready", "video:updated"});
        CHECK(applied.events[0].data == applied.events[1].data);
        CHECK(applied.events[0].data["webhookType"] == "video.asset.ready");

        const auto record = store.get("asset-1");
        REQUIRE(record);
        CHECK(*record == json{{"videoId", "asset-1"},
                              {"status", "ready"},
                              {"playbackId", "p1"},
                              {"duration", 12.5},
                              {"aspectRatio", "16:9"},
                              {"uploadId", "u1"},  // kept from the created webhook
                              {"createdAt", "2019-08-06T21:08:38.000Z"},
                              {"updatedAt", (*record)["updatedAt"]}});
        CHECK_FALSE(record->contains("webhookType"));
    }
    SECTION("ready without a created first still makes a record") {
        const auto applied = store.apply(webhook("video.asset.ready", "wh-2", {{"id", "asset-9"}}));
        REQUIRE(names(applied) == std::vector<std::string>{"video:status:ready", "video:updated"});
        CHECK(applied.events[0].data["status"] == "ready");
        CHECK(is_iso8601(applied.events[0].data["createdAt"]));
    }
    SECTION("only public playback ids are used") {
        store.apply(webhook("video.asset.ready", "wh-1",
                            {{"id", "a"}, {"playback_ids", {{{"id", "p0"}, {"policy", "signed"}}}}}));
        CHECK(store.get("a")->at("playbackId").is_null());
    }
    SECTION("other video.asset.* -> video:status:updated then video:updated") {
        store.apply(webhook("video.asset.created", "wh-1", created_data));
        const auto errored = store.apply(webhook("video.asset.errored", "wh-2", {{"id", "asset-1"}}));
        CHECK(names(errored) == std::vector<std::string>{"video:status:updated", "video:updated"});
        CHECK(store.get("asset-1")->at("status") == "errored");
        const auto renditions = store.apply(
            webhook("video.asset.static_renditions.ready", "wh-3", {{"id", "asset-1"}, {"status", "ready"}}));
        CHECK(names(renditions) == std::vector<std::string>{"video:status:updated", "video:updated"});
        CHECK(renditions.events[0].data["webhookType"] == "video.asset.static_renditions.ready");
        CHECK(store.get("asset-1")->at("status") == "ready");
    }
    SECTION("deleted removes the record; its events say status deleted") {
        store.apply(webhook("video.asset.created", "wh-1", created_data));
        const auto applied = store.apply(webhook("video.asset.deleted", "wh-2", {{"id", "asset-1"}, {"status", "ready"}}));
        REQUIRE(names(applied) == std::vector<std::string>{"video:status:updated", "video:updated"});
        CHECK(applied.events[1].data["status"] == "deleted");
        CHECK(applied.events[1].data["videoId"] == "asset-1");
        CHECK(applied.events[1].data["uploadId"] == "u1");
        CHECK_FALSE(store.get("asset-1"));
        CHECK(store.size() == 0);
        CHECK(store.list().empty());
    }
    SECTION("deleting an unknown asset still tells clients, and stores nothing") {
        const auto applied = store.apply(webhook("video.asset.deleted", "wh-1", {{"id", "ghost"}}));
        CHECK(names(applied).size() == 2);
        CHECK(store.size() == 0);
    }
    SECTION("a webhook id seen before is a duplicate, with no events") {
        store.apply(webhook("video.asset.created", "wh-1", created_data));
        const auto again = store.apply(webhook("video.asset.created", "wh-1", created_data));
        CHECK(again.duplicate);
        CHECK(again.events.empty());
        const auto other_type_same_id = store.apply(webhook("video.asset.ready", "wh-1", ready_data));
        CHECK(other_type_same_id.duplicate);
        CHECK(store.get("asset-1")->at("status") == "preparing");
    }
    SECTION("types outside video.asset.* are ignored") {
        for (const auto* type : {"video.upload.created", "video.live_stream.active", "video.assetx", "video.asset"}) {
            const auto applied = store.apply(webhook(type, "wh-1", created_data));
            CHECK(applied.ignored);
            CHECK(applied.events.empty());
        }
        CHECK(store.size() == 0);
        // Ignored ids are not remembered.
        CHECK_FALSE(store.apply(webhook("video.asset.created", "wh-1", created_data)).duplicate);
    }
    SECTION("missing or non-string type, id or data.id are ignored") {
        CHECK(store.apply(json::object()).ignored);
        CHECK(store.apply(json::array()).ignored);
        CHECK(store.apply(json(nullptr)).ignored);
        CHECK(store.apply(json("video.asset.created")).ignored);
        CHECK(store.apply({{"id", "wh-1"}, {"data", created_data}}).ignored);
        CHECK(store.apply({{"type", 7}, {"id", "wh-1"}, {"data", created_data}}).ignored);
        CHECK(store.apply({{"type", "video.asset.created"}, {"data", created_data}}).ignored);
        CHECK(store.apply({{"type", "video.asset.created"}, {"id", 1}, {"data", created_data}}).ignored);
        CHECK(store.apply({{"type", "video.asset.created"}, {"id", ""}, {"data", created_data}}).ignored);
        CHECK(store.apply({{"type", "video.asset.created"}, {"id", "wh-1"}}).ignored);
        CHECK(store.apply(webhook("video.asset.created", "wh-1", "asset-1")).ignored);
        CHECK(store.apply(webhook("video.asset.created", "wh-1", {{"status", "ready"}})).ignored);
        CHECK(store.apply(webhook("video.asset.created", "wh-1", {{"id", 5}})).ignored);
        CHECK(store.size() == 0);
    }
    SECTION("fields of the wrong type are skipped, not trusted") {
        store.apply(webhook("video.asset.ready", "wh-1",
                            {{"id", "a"}, {"status", 3}, {"duration", "long"}, {"aspect_ratio", 1.7},
                             {"upload_id", nullptr}, {"playback_ids", "p1"}}));
        const auto record = store.get("a");
        REQUIRE(record);
        CHECK(record->at("status") == "ready");
        CHECK(record->at("duration").is_null());
        CHECK(record->at("aspectRatio").is_null());
        CHECK(record->at("uploadId").is_null());
        CHECK(record->at("playbackId").is_null());
    }
    SECTION("createdAt comes from data.created_at in unix seconds, else now") {
        store.apply(webhook("video.asset.created", "wh-1", {{"id", "n"}, {"created_at", 1700000000}}));
        store.apply(webhook("video.asset.created", "wh-2", {{"id", "iso"}, {"created_at", "2024-01-01T00:00:00Z"}}));
        store.apply(webhook("video.asset.created", "wh-3", {{"id", "neg"}, {"created_at", -5}}));
        store.apply(webhook("video.asset.created", "wh-4", {{"id", "huge"}, {"created_at", "99999999999999"}}));
        CHECK(store.get("n")->at("createdAt") == "2023-11-14T22:13:20.000Z");
        for (const auto* id : {"iso", "neg", "huge"}) {
            const auto created = store.get(id)->at("createdAt");
            CHECK(is_iso8601(created));
            CHECK(created.get<std::string>() > "2024-");
        }
    }
}

TEST_CASE("the server's own changes to video records") {
    VideoStore store;

    SECTION("upsert creates a record with every field") {
        const auto record = store.upsert("video-1", {{"status", "preparing"}, {"uploadId", "upload-1"}, {"title", "a.mp4"}});
        CHECK(record["videoId"] == "video-1");
        CHECK(record["status"] == "preparing");
        CHECK(record["uploadId"] == "upload-1");
        CHECK(record["title"] == "a.mp4");
        CHECK(record["playbackId"].is_null());
        CHECK(is_iso8601(record["createdAt"]));
        CHECK(is_iso8601(record["updatedAt"]));
        CHECK(store.get("video-1") == record);
    }
    SECTION("upsert merges into an existing record") {
        store.upsert("video-1", {{"status", "preparing"}, {"title", "a.mp4"}});
        const auto record = store.upsert("video-1", {{"status", "ready"}});
        CHECK(record["status"] == "ready");
        CHECK(record["title"] == "a.mp4");
        CHECK(store.size() == 1);
    }
    SECTION("the store's own fields cannot be overwritten") {
        const auto first = store.upsert("video-1", {});
        const auto record = store.upsert("video-1", {{"videoId", "other"}, {"createdAt", "yesterday"}, {"updatedAt", 0}});
        CHECK(record["videoId"] == "video-1");
        CHECK(record["createdAt"] == first["createdAt"]);
        CHECK(is_iso8601(record["updatedAt"]));
        CHECK_FALSE(store.get("other"));
    }
    SECTION("fields that are not an object only touch updatedAt") {
        const auto record = store.upsert("video-1", json::array({1, 2}));
        CHECK(record["status"] == "preparing");
    }
    SECTION("webhooks and upserts meet on the same record") {
        store.upsert("asset-1", {{"title", "a.mp4"}});
        store.apply(webhook("video.asset.ready", "wh-1", {{"id", "asset-1"}}));
        CHECK(store.get("asset-1")->at("title") == "a.mp4");
        CHECK(store.get("asset-1")->at("status") == "ready");
    }
    SECTION("get of an unknown id") {
        CHECK_FALSE(store.get("nope"));
    }
}

TEST_CASE("the store is bounded") {
    SECTION("list() puts the most recently created first; updates do not reorder") {
        VideoStore store;
        store.upsert("a", {});
        store.apply(webhook("video.asset.created", "wh-1", {{"id", "b"}, {"created_at", "1000"}}));
        store.upsert("c", {});
        store.upsert("a", {{"status", "ready"}});
        const auto list = store.list();
        REQUIRE(list.size() == 3);
        CHECK(list[0]["videoId"] == "c");
        CHECK(list[1]["videoId"] == "b");
        CHECK(list[2]["videoId"] == "a");
        CHECK(list[2]["status"] == "ready");
    }
    SECTION("past max_records the oldest record is dropped") {
        VideoStore store(3);
        for (const auto* id : {"a", "b", "c", "d", "e"}) store.upsert(id, {});
        CHECK(store.size() == 3);
        CHECK_FALSE(store.get("a"));
        CHECK_FALSE(store.get("b"));
        CHECK(store.list() == json::array({*store.get("e"), *store.get("d"), *store.get("c")}));
        store.apply(webhook("video.asset.deleted", "wh-1", {{"id", "d"}}));
        store.upsert("f", {});
        CHECK(store.size() == 3);
        CHECK(store.get("c"));
    }
    SECTION("10,000 records by default") {
        VideoStore store;
        for (int i = 0; i < 10'005; ++i) store.upsert("v" + std::to_string(i), {});
        CHECK(store.size() == 10'000);
        CHECK_FALSE(store.get("v4"));
        CHECK(store.get("v5"));
        CHECK(store.list()[0]["videoId"] == "v10004");
    }
    SECTION("a webhook id is forgotten after max_ids newer ones") {
        VideoStore store(10'000, 3);
        const json data{{"id", "asset-1"}};
        CHECK_FALSE(store.apply(webhook("video.asset.updated", "wh-0", data)).duplicate);
        for (int i = 1; i <= 2; ++i) store.apply(webhook("video.asset.updated", "wh-" + std::to_string(i), data));
        CHECK(store.apply(webhook("video.asset.updated", "wh-0", data)).duplicate);
        store.apply(webhook("video.asset.updated", "wh-3", data));
        const auto again = store.apply(webhook("video.asset.updated", "wh-0", data));
        CHECK_FALSE(again.duplicate);
        CHECK(again.events.size() == 2);
        CHECK(store.apply(webhook("video.asset.updated", "wh-0", data)).duplicate);
    }
    SECTION("10,000 webhook ids by default") {
        VideoStore store;
        const json data{{"id", "asset-1"}};
        store.apply(webhook("video.asset.updated", "first", data));
        for (int i = 0; i < 9'999; ++i) store.apply(webhook("video.asset.updated", std::to_string(i), data));
        CHECK(store.apply(webhook("video.asset.updated", "first", data)).duplicate);
        store.apply(webhook("video.asset.updated", "one more", data));
        CHECK_FALSE(store.apply(webhook("video.asset.updated", "first", data)).duplicate);
    }
}
