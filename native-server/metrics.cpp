#include "metrics.hpp"

#include <algorithm>
#include <sstream>

namespace ssebus::server {

void NameCounts::add(std::string_view name) {
    std::lock_guard lock(mutex_);
    if (const auto it = counts_.find(std::string(name)); it != counts_.end()) ++it->second;
    else if (counts_.size() < tracked_) counts_.emplace(name, 1);
    else ++untracked_;
}

CountsByName NameCounts::top() const {
    std::lock_guard lock(mutex_);
    CountsByName all(counts_.begin(), counts_.end());
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::uint64_t other = untracked_;
    for (std::size_t i = shown_; i < all.size(); ++i) other += all[i].second;
    if (all.size() > shown_) all.resize(shown_);
    if (other > 0) all.emplace_back("other", other);
    return all;
}

namespace {

// A label value as the text format wants it: backslash, double quote and line feed escaped.
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// Streams ended, by reason.
void closed_by_reason(std::ostream& out, const HubStats& s) {
    out << "# HELP ssebus_streams_closed_total Streams ended, by reason.\n"
           "# TYPE ssebus_streams_closed_total counter\n";
    for (const auto& [reason, n] : s.closed_by_reason)
        out << "ssebus_streams_closed_total{reason=\"" << label_value(reason) << "\"} " << n << '\n';
}

}  // namespace

std::string prometheus_text(const HubStats& s, const ResponseCounts& responses, const CountsByName& published_by_name) {
    std::ostringstream out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
            << name << ' ' << value << '\n';
    };
    metric("ssebus_active_clients", "gauge", "Open Server-Sent Events streams.", s.active_clients);
    out << "# HELP ssebus_active_clients_by_route Open streams per route.\n"
           "# TYPE ssebus_active_clients_by_route gauge\n";
    for (const auto& [route, n] : s.clients_by_route)
        out << "ssebus_active_clients_by_route{route=\"" << label_value(route) << "\"} " << n << '\n';
    metric("ssebus_authenticated_clients", "gauge", "Open streams with a verified token.", s.authenticated_clients);
    metric("ssebus_events_published_total", "counter", "Events published.", s.events_published);
    out << "# HELP ssebus_http_events_published_total Events published through the HTTP routes and committed, "
           "by name (the 20 most published; the rest as other).\n"
           "# TYPE ssebus_http_events_published_total counter\n";
    for (const auto& [name, n] : published_by_name)
        out << "ssebus_http_events_published_total{name=\"" << label_value(name) << "\"} " << n << '\n';
    metric("ssebus_frames_delivered_total", "counter", "Event frames handed to streams.", s.frames_delivered);
    metric("ssebus_events_replayed_total", "counter", "Events replayed after Last-Event-ID.", s.events_replayed);
    metric("ssebus_gaps_reported_total", "counter", "ssebus:gap notices sent.", s.gaps_reported);
    metric("ssebus_slow_clients_disconnected_total", "counter",
           "Streams closed because their queue overflowed.", s.slow_clients_disconnected);
    closed_by_reason(out, s);
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
