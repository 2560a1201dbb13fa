// ssebus-server: wires the configuration, the server and the signals together.
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>

#include "config.hpp"
#include "log.hpp"
#include "server.hpp"

namespace {

std::string joined(const std::vector<std::string>& items, const char* separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ssebus::server;
    int exit_code = 0;
    auto config = parse_config(argc, argv, exit_code);
    if (!config) return exit_code;
    log::set_level(config->log_level);
    log::set_format(config->log_format);

    // Signals are caught from before the start, so a stop right after the listening line
    // is a clean one.
    net::io_context signals_ioc;
    net::signal_set signals(signals_ioc, SIGINT, SIGTERM);

    // Every failure to start is one line and exit code 2, never an uncaught exception: a
    // setting that cannot work, or an address the system will not give (a port in use).
    std::optional<Server> server;
    try {
        server.emplace(std::move(*config));
        server->start();
    } catch (const ConfigError& e) {
        std::cerr << "ssebus-server: " << e.what() << std::endl;
        return 2;
    } catch (const std::system_error& e) {
        std::cerr << "ssebus-server: " << e.what() << std::endl;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "ssebus-server: cannot start: " << e.what() << std::endl;
        return 1;
    }
    const auto& c = server->config();
    // Which secrets were made up or read back, never their values.
    const std::string data_dir = c.data_dir.empty() ? "" : std::filesystem::absolute(c.data_dir).string();
    SSEBUS_LOG(info, "started", {"address", c.address}, {"port", server->port()}, {"store", c.store},
               {"data_dir", data_dir.empty() ? "(none: secrets last this run)" : data_dir},
               {"secrets_generated", joined(server->generated_secrets(), ",")},
               {"secrets_kept", joined(server->kept_secrets(), ",")},
               {"secrets_file", data_dir.empty() || (server->generated_secrets().empty() && server->kept_secrets().empty())
                                    ? std::string()
                                    : (std::filesystem::path(data_dir) / "secrets.json").string()},
               {"demo", c.demo},
               {"log_level", log::to_string(c.log_level)});
    if (c.mux_secret.empty())
        SSEBUS_LOG(info, "Mux webhooks are refused (503): no --mux-secret is set");
    if (c.test_hooks)
        SSEBUS_LOG(warn, "SSEBUS_TEST_HOOKS=1: the test routes under /api/_test/ are on; never in production");
    if (c.demo && c.demo_public_key)
        SSEBUS_LOG(warn, "--demo-public-key: anyone who reaches this server gets the publisher key and can publish");

    // Always printed, whatever the level, and last: with --port 0 it is how a caller learns
    // the port, and that the server is ready.
    log::always("listening on " + joined(server->urls(), " and ") +
                (c.static_dir.empty() ? " (built-in page)" : " serving " + c.static_dir) + (c.demo ? ", demo on" : ""));
    signals.async_wait([&](error_code, int signal) {
        SSEBUS_LOG(info, "stopping", {"reason", signal == SIGINT ? "SIGINT" : "SIGTERM"});
        server->stop();
        SSEBUS_LOG(info, "stopped");
    });
    signals_ioc.run();
    return 0;
}
