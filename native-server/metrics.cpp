#include "metrics.hpp"

#include <sstream>

namespace ssebus::server {

std::string prometheus_text(const HubStats& s, const ResponseCounts& responses) {
    std::ostringstream out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
            << name << ' ' << value << '\n';
    };
    metric("ssebus_active_clients", "gauge", "Open Server-Sent Events streams.", s.active_clients);
    out << "# HELP ssebus_active_clients_by_route Open streams per route.\n"
           "# TYPE ssebus_active_clients_by_route gauge\n";
    for (const auto& [route, n] : s.clients_by_route)
        out << "ssebus_active_clients_by_route{route=\"" << route << "\"} " << n << '\n';
    metric("ssebus_authenticated_clients", "gauge", "Open streams with a verified token.", s.authenticated_clients);
    metric("ssebus_events_published_total", "counter", "Events published.", s.events_published);
    metric("ssebus_frames_delivered_total", "counter", "Event frames handed to streams.", s.frames_delivered);
    metric("ssebus_events_replayed_total", "counter", "Events replayed after Last-Event-ID.", s.events_replayed);
    metric("ssebus_gaps_reported_total", "counter", "ssebus:gap notices sent.", s.gaps_reported);
    metric("ssebus_slow_clients_disconnected_total", "counter",
           "Streams closed because their queue overflowed.", s.slow_clients_disconnected);
    metric("ssebus_streams_refused_total", "counter", "Streams refused over the per-user limit.", s.streams_refused);
    metric("ssebus_connections_total", "counter", "Streams opened.", s.connections_total);
    metric("ssebus_history_events", "gauge", "Events kept for replay.", s.history_size);
    metric("ssebus_last_event_id", "gauge", "The newest event id.", s.last_id);
    out << "# HELP ssebus_http_responses_total HTTP responses by status class.\n"
           "# TYPE ssebus_http_responses_total counter\n"
        << "ssebus_http_responses_total{class=\"2xx\"} " << responses.class_2xx << '\n'
        << "ssebus_http_responses_total{class=\"4xx\"} " << responses.class_4xx << '\n'
        << "ssebus_http_responses_total{class=\"5xx\"} " << responses.class_5xx << '\n';
    return out.str();
}


}  // namespace ssebus::server
