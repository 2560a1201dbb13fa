// The demo's simulated Mux webhooks: the page cannot hold the signing secret, so the server
// writes the webhook Mux would send, and the route signs it and runs it through the verified
// webhook path.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ssebus::server {

// Whether `type` is one the demo simulates: a Mux "video.asset.*" event type.
bool demo_webhook_type(std::string_view type);

// The webhook body Mux would send for `type` about asset `asset_id` (made up when empty):
// {"type", "id": "wh-…", "data": {"id", "status", "created_at", and for ready "playback_ids",
// "duration", "aspect_ratio"}}.
nlohmann::json demo_webhook(std::string_view type, std::string asset_id);

}  // namespace ssebus::server
