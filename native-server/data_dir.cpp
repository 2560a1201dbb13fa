#include "data_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "crypto.hpp"

namespace ssebus::server {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(const fs::path& dir, const std::string& why) {
    throw ConfigError("data directory " + dir.string() + " (--data-dir): " + why);
}

// Writes `text` to `file` with mode 0600, through a temporary file and a rename, so a
// crash never leaves half a file.
void write_private(const fs::path& dir, const fs::path& file, const std::string& text) {
    const auto tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) refuse(dir, std::string("cannot write ") + file.filename().string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            refuse(dir, std::string("cannot write ") + file.filename().string() + ": " + std::strerror(err));
        }
        done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced || ::rename(tmp.c_str(), file.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        refuse(dir, std::string("cannot write ") + file.filename().string() + ": " + std::strerror(err));
    }
}

}  // namespace

DataDir::DataDir(fs::path path) : path_(std::move(path)) {
    if (path_.empty()) refuse(path_, "empty path");
    std::error_code ec;
    const auto status = fs::status(path_, ec);
    if (fs::exists(status)) {
        if (!fs::is_directory(status)) refuse(path_, "exists and is not a directory");
    } else {
        // Parents get the usual mode; the directory itself is private.
        if (path_.has_parent_path()) fs::create_directories(path_.parent_path(), ec);
        if (::mkdir(path_.c_str(), 0700) != 0 && errno != EEXIST)
            refuse(path_, std::string("cannot create it: ") + std::strerror(errno));
    }
    if (::access(path_.c_str(), W_OK | X_OK) != 0) refuse(path_, std::string("cannot write in it: ") + std::strerror(errno));
    // access() trusts the permission bits; a read-only file system or a full disk shows only
    // on an actual write.
    const auto probe = path_ / ".write-test";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) refuse(path_, std::string("cannot write in it: ") + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
}

std::string DataDir::secret(std::string_view name, bool& generated) {
    const auto file = path_ / "secrets.json";
    nlohmann::json secrets = nlohmann::json::object();
    std::error_code ec;
    if (fs::exists(file, ec)) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) refuse(path_, "cannot read secrets.json");
        secrets = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
        if (!secrets.is_object()) refuse(path_, "secrets.json is not a JSON object; fix or remove it");
    }
    const std::string key(name);
    if (const auto it = secrets.find(key); it != secrets.end() && it->is_string() && !it->get<std::string>().empty()) {
        generated = false;
        return it->get<std::string>();
    }
    auto value = random_secret();
    secrets[key] = value;
    write_private(path_, file, secrets.dump(2) + "\n");
    generated = true;
    return value;
}

}  // namespace ssebus::server
