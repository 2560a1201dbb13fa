#include "metrics.hpp"

#include <cstdio>
#include <sstream>

namespace ssebus::server {

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

// Every publish, by name, however it was published (HTTP, the in-process API, the demos).
void published_by_name(std::ostream& out, const HubStats& s) {
    out << "# HELP ssebus_events_published_by_name_total Events published, by name (the " << NameCounts::default_shown
        << " most published; the rest, and every name after the first " << NameCounts::default_tracked
        << ", as other).\n"
           "# TYPE ssebus_events_published_by_name_total counter\n";
    for (const auto& [name, n] : s.events_published_by_name)
        out << "ssebus_events_published_by_name_total{name=\"" << label_value(name) << "\"} " << n << '\n';
}

// The cumulative buckets, the sum in seconds and the count.
void publish_to_write(std::ostream& out, const HubStats& s) {
    constexpr const char* name = "ssebus_publish_to_write_seconds";
    out << "# HELP " << name
        << " Seconds from the hub numbering a live event to the completion of the socket write that carried "
           "its frame, once per stream it reached (replays not included).\n"
           "# TYPE "
        << name << " histogram\n";
    const auto& h = s.publish_to_write;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyHistogram::bounds_text.size(); ++i) {
        cumulative += h.counts[i];
        out << name << "_bucket{le=\"" << LatencyHistogram::bounds_text[i] << "\"} " << cumulative << '\n';
    }
    cumulative += h.counts.back();
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(h.sum_ns) / 1e9);
    out << name << "_bucket{le=\"+Inf\"} " << cumulative << '\n'
        << name << "_sum " << sum << '\n'
        << name << "_count " << cumulative << '\n';
}

}  // namespace

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
        out << "ssebus_active_clients_by_route{route=\"" << label_value(route) << "\"} " << n << '\n';
    metric("ssebus_authenticated_clients", "gauge", "Open streams with a verified token.", s.authenticated_clients);
    metric("ssebus_events_published_total", "counter", "Events published.", s.events_published);
    published_by_name(out, s);
    metric("ssebus_frames_delivered_total", "counter", "Event frames handed to streams.", s.frames_delivered);
    metric("ssebus_events_replayed_total", "counter", "Events replayed after Last-Event-ID.", s.events_replayed);
    metric("ssebus_gaps_reported_total", "counter", "ssebus:gap notices sent.", s.gaps_reported);
    metric("ssebus_slow_clients_disconnected_total", "counter",
           "Streams closed because their queue overflowed.", s.slow_clients_disconnected);
    closed_by_reason(out, s);
    publish_to_write(out, s);
    metric("ssebus_streams_refused_total", "counter", "Streams refused over the per-user limit.", s.streams_refused);
    metric("ssebus_connections_total", "counter", "Streams opened.", s.connections_total);
    metric("ssebus_lag_waits_total", "counter",
           "Streams that waited for this server to apply their Last-Event-ID (a shared store).", s.lag_waits);
    metric("ssebus_streams_waiting", "gauge", "Streams waiting now for this server to apply their Last-Event-ID.",
           s.streams_waiting);
    metric("ssebus_history_events", "gauge", "Events kept for replay.", s.history_size);
    metric("ssebus_last_event_id", "gauge", "The newest event id.", s.last_id);
    out << "# HELP ssebus_store_info The event log's kind (--store).\n# TYPE ssebus_store_info gauge\n"
        << "ssebus_store_info{kind=\"" << label_value(s.store_kind) << "\"} 1\n";
    metric("ssebus_store_ready", "gauge", "1 when the event log can write, 0 when it cannot.", s.store_health.ready ? 1 : 0);
    metric("ssebus_store_commits_total", "counter", "Transactions the event log committed (memory: appends).",
           s.store.commits);
    out << "# HELP ssebus_store_batch_events Events per committed transaction (group commit).\n"
           "# TYPE ssebus_store_batch_events summary\n"
        << "ssebus_store_batch_events_sum " << s.store.events_committed << '\n'
        << "ssebus_store_batch_events_count " << s.store.commits << '\n';
    metric("ssebus_store_batch_events_max", "gauge", "The largest committed transaction, in events.", s.store.batch_max);
    out << "# HELP ssebus_store_commit_seconds Time from BEGIN to COMMIT of the event log's transactions.\n"
           "# TYPE ssebus_store_commit_seconds summary\n"
        << "ssebus_store_commit_seconds_sum " << static_cast<double>(s.store.commit_ns_sum) / 1e9 << '\n'
        << "ssebus_store_commit_seconds_count " << s.store.commits << '\n';
    metric("ssebus_store_commit_seconds_max", "gauge", "The longest commit.",
           static_cast<double>(s.store.commit_ns_max) / 1e9);
    metric("ssebus_store_failed_writes_total", "counter", "Events refused (503) because the event log could not write.",
           s.store.failed_writes);
    metric("ssebus_store_earliest_event_id", "gauge", "The oldest retained event id (0: none).", s.store_window.earliest);
    metric("ssebus_store_ring_events", "gauge", "Newest events the hub keeps in memory for replays.", s.ring_size);
    out << "# HELP ssebus_http_responses_total HTTP responses by status class.\n"
           "# TYPE ssebus_http_responses_total counter\n"
        << "ssebus_http_responses_total{class=\"2xx\"} " << responses.class_2xx << '\n'
        << "ssebus_http_responses_total{class=\"4xx\"} " << responses.class_4xx << '\n'
        << "ssebus_http_responses_total{class=\"5xx\"} " << responses.class_5xx << '\n';
    return out.str();
}

}  // namespace ssebus::server
