// The data directory: what the server keeps across restarts. Today the secrets it made up
// (secrets.json, mode 0600); the directory itself is created with mode 0700.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ssebus::server {

class DataDir {
public:
    // Creates `path` (and its parents) if missing, mode 0700, and checks that a file can be
    // written in it. Throws ConfigError, naming the directory, when it cannot.
    explicit DataDir(std::filesystem::path path);

    const std::filesystem::path& path() const noexcept { return path_; }

    // The secret kept under `name`; when there is none, one is made up (random_secret())
    // and kept. `generated` says which happened. Throws ConfigError when secrets.json cannot
    // be read or written.
    std::string secret(std::string_view name, bool& generated);

private:
    std::filesystem::path path_;
};

}  // namespace ssebus::server
