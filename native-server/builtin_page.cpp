#include "builtin_page.hpp"

namespace ssebus::server {

std::string_view builtin_page() {
    static constexpr std::string_view page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ssebus-server</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2433; background: #f5f7fb; }
  header { background: #1d2433; color: #fff; padding: 16px 32px; }
  header h1 { margin: 0; font-size: 20px; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; padding: 24px 32px; }
  section { background: #fff; border-radius: 8px; padding: 16px 20px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  h2 { font-size: 16px; margin-top: 0; }
  code { background: #eef1f6; padding: 1px 5px; border-radius: 4px; }
  ul { padding-left: 18px; margin: 0; }
  #status { font-weight: 600; }
  #log { font: 12px/1.4 ui-monospace, monospace; max-height: 60vh; overflow: auto; margin: 0; }
  #log div { border-bottom: 1px solid #eef1f6; padding: 3px 0; }
</style>
</head>
<body>
<header><h1>ssebus-server</h1></header>
<main>
<section>
  <h2>Routes</h2>
  <ul>
    <li><code>GET /api/events</code> Server-Sent Events (<code>?streams=a,b</code>, <code>Last-Event-ID</code>)</li>
    <li><code>POST /api/events</code> publish (publisher key)</li>
    <li><code>GET /api/events/stream</code> <code>{type, data, timestamp}</code> events</li>
    <li><code>GET /api/v1/events/stream/{stream_id}</code>, <code>GET /api/v1/events/streams</code></li>
    <li><code>POST /api/v1/events/broadcast</code>, <code>POST /api/v1/events/stream/{id}/start|stop|pause|resume</code></li>
    <li><code>POST /videos/{id}/process</code>, <code>GET /videos/{id}/status</code></li>
    <li><code>POST /api/webhooks/mux</code>, <code>GET /api/videos</code>, <code>POST /api/uploads</code></li>
    <li><code>GET /api/sse</code>, <code>GET|POST /api/sse-test</code></li>
    <li><code>GET /api/events/stats</code>, <code>GET /metrics</code>, <code>GET /healthz</code></li>
  </ul>
</section>
<section>
  <h2>Live events <span id="status">connecting</span></h2>
  <div id="log"></div>
</section>
</main>
<script>
  const log = document.getElementById('log');
  const status = document.getElementById('status');
  const show = (name, data) => {
    const line = document.createElement('div');
    line.textContent = new Date().toLocaleTimeString() + '  ' + name + '  ' + data;
    log.prepend(line);
    while (log.childNodes.length > 200) log.lastChild.remove();
  };
  const source = new EventSource('/api/events?streams=default,system,user-activity,notifications');
  source.onopen = () => { status.textContent = 'open'; };
  source.onerror = () => { status.textContent = 'reconnecting'; };
  source.onmessage = (e) => show('message', e.data);
  for (const name of ['tick', 'system:metrics', 'user:activity', 'notification', 'video:created',
                      'video:updated', 'video:status:ready', 'video:status:updated', 'video:upload:started',
                      'video:upload:progress', 'video:upload:completed', 'ssebus:gap'])
    source.addEventListener(name, (e) => show(name, e.data));
</script>
</body>
</html>
)html";
    return page;
}

}  // namespace ssebus::server
