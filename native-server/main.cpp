// ssebus-server: wires the configuration, the server and the signals together.
#include <csignal>
#include <iostream>
#include <system_error>

#include "config.hpp"
#include "log.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    using namespace ssebus::server;
    const bool key_given = [] {
        const char* k = std::getenv("SSEBUS_PUBLISHER_KEY");
        return k && *k;
    }();
    int exit_code = 0;
    auto config = parse_config(argc, argv, exit_code);
    if (!config) return exit_code;
    if (config->quiet) log::set_level(log::Level::warn);
    const bool print_key = !key_given && config->publisher_key.empty();

    Server server(std::move(*config));
    try {
        server.start();
    } catch (const std::system_error& e) {
        std::cerr << "ssebus-server: " << e.what() << std::endl;
        return 1;
    }
    const auto& c = server.config();
    // Always printed, --quiet or not: with --port 0 it is how a caller learns the port.
    log::always("listening on http://" + c.address + ":" + std::to_string(server.port()) +
                (c.static_dir.empty() ? " (built-in page)" : " serving " + c.static_dir) + (c.demo ? ", demo on" : ""));
    if (print_key) log_info("publisher key for this run: " + c.publisher_key);

    net::io_context signals_ioc;
    net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
    signals.async_wait([&](error_code, int signal) {
        log_info(std::string("stopping on ") + (signal == SIGINT ? "SIGINT" : "SIGTERM"));
        server.stop();
    });
    signals_ioc.run();
    return 0;
}
