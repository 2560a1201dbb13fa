// The route handlers, one namespace (and one file) per family. routes/table.cpp says which
// method and path reach each one.
#pragma once

#include "routes/context.hpp"

namespace ssebus::server::routes {

using Handler = Outcome (*)(Context&);

namespace service {  // service.cpp
Outcome health(Context&);
Outcome metrics(Context&);
Outcome stats(Context&);
// Only with SSEBUS_TEST_HOOKS=1: the log applies nothing for ?ms=N (a server that lags).
Outcome pause_applying(Context&);
}  // namespace service

namespace events {  // events.cpp: /api/events
Outcome stream(Context&);
Outcome publish(Context&);
Outcome envelope_stream(Context&);
}  // namespace events

namespace v1 {  // v1.cpp: /api/v1/events/...
Outcome streams(Context&);
Outcome broadcast(Context&);
Outcome stream(Context&);
Outcome control(Context&);
}  // namespace v1

namespace videos {  // videos.cpp: the video records, simulated uploads, the pipeline
Outcome list(Context&);
Outcome upload(Context&);
Outcome process(Context&);
Outcome status(Context&);
}  // namespace videos

namespace sse {  // sse.cpp: /api/sse, /api/sse-test
Outcome stream(Context&);
Outcome stats(Context&);
Outcome test_event(Context&);
}  // namespace sse

namespace webhooks {  // webhooks.cpp
Outcome mux(Context&);
// The verified path every Mux webhook takes, the demo's simulated ones included.
Outcome accept_mux(Context& ctx, std::string_view signature, const std::string& raw_body);
}  // namespace webhooks

namespace demo {  // demo_routes.cpp: only with --demo
Outcome login(Context&);
Outcome logout(Context&);
Outcome config(Context&);
Outcome mux_webhook(Context&);
}  // namespace demo

namespace files {  // static_files.cpp: the web demo
Outcome serve(Context&);
Outcome no_route(Context&);
}  // namespace files

}  // namespace ssebus::server::routes
