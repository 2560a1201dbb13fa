#include "uploads.hpp"

#include <algorithm>
#include <memory>

#include "crypto.hpp"

namespace ssebus::server {

struct Uploads::Upload {
    std::string id;
    std::string filename;
    Target target;
    int progress = -1;  // -1: not started
};

Uploads::Uploads(net::any_io_executor executor, Hub& hub, mux::VideoStore& videos, std::chrono::milliseconds step)
    : hub_(hub), videos_(videos), jobs_(std::move(executor), step) {}

std::string Uploads::start(const std::string& filename, Target target) {
    for (;;) {
        auto upload = std::make_shared<Upload>(Upload{.id = "upload-" + random_hex(8), .filename = filename,
                                                      .target = std::move(target)});
        const auto id = upload->id;
        if (jobs_.start(id, [this, upload] { return step(*upload); })) return id;
        target = upload->target;  // (a collision of 64 random bits: take another)
    }
}

bool Uploads::step(Upload& u) {
    auto send = [&](std::string name, nlohmann::json data) {
        // Fire and forget, in order: the log applies appends in the order they were made.
        hub_.publish({.name = std::move(name), .data = data.dump(), .target = u.target}, PublishDone{});
    };
    if (u.progress < 0) {
        send("video:upload:started", {{"uploadId", u.id}, {"filename", u.filename}});
        u.progress = 0;
        return true;
    }
    if (u.progress < 100) {
        u.progress = std::min(100, u.progress + 10);
        send("video:upload:progress", {{"uploadId", u.id}, {"filename", u.filename}, {"progress", u.progress}});
        return true;
    }
    // The video takes the upload's unique part: video-<16 hex digits>.
    const std::string video_id = "video-" + u.id.substr(std::string("upload-").size());
    const auto record = videos_.upsert(video_id, {{"status", "preparing"}, {"uploadId", u.id}, {"title", u.filename}});
    send("video:upload:completed", {{"uploadId", u.id}, {"filename", u.filename}, {"videoId", video_id}});
    hub_.publish({.name = "video:created", .data = record.dump(), .target = {Target::Kind::all, {}}}, PublishDone{});
    return false;
}

}  // namespace ssebus::server
