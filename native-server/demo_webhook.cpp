#include "demo_webhook.hpp"

#include "crypto.hpp"
#include "event.hpp"

namespace ssebus::server {

bool demo_webhook_type(std::string_view type) {
    return type.starts_with("video.asset.") && type.size() <= 64;
}

nlohmann::json demo_webhook(std::string_view type, std::string asset_id) {
    if (asset_id.empty()) asset_id = "asset-" + random_hex(6);
    const bool ready = type == "video.asset.ready";
    const char* status = ready ? "ready" : type == "video.asset.errored" ? "errored" : "preparing";
    nlohmann::json data{{"id", asset_id}, {"status", status}, {"created_at", std::to_string(now_ms() / 1000)}};
    if (ready) {
        data["playback_ids"] = nlohmann::json::array({{{"id", "pb-" + random_hex(6)}, {"policy", "public"}}});
        data["duration"] = 30.0;
        data["aspect_ratio"] = "16:9";
    }
    return {{"type", type}, {"id", "wh-" + random_hex(8)}, {"data", data}};
}

}  // namespace ssebus::server
