// A TCP proxy on 127.0.0.1 (port 0) in front of one server or several, for tests that cut
// connections. With several backends it is a load balancer: each new connection goes to
// the next backend in turn (round-robin), and a backend that refuses the connection, or is
// disabled, is skipped for the one after it; a connection that no backend takes is reset.
import { connect, createServer } from 'node:net';

// `targets`: one port, or a list of ports (backend i is targets[i]).
export async function startTcpProxy(targets) {
  let backends = (Array.isArray(targets) ? targets : [targets]).map((port) => ({ port, enabled: true }));
  const pairs = new Set();
  let accepted = 0;
  let next = 0;

  // Tries the backends from the next in turn; hands the client to the first that connects.
  function route(client) {
    const tried = new Set();
    const attempt = () => {
      if (client.destroyed) return;
      if (tried.size >= backends.length) {
        client.resetAndDestroy();
        return;
      }
      const index = next % backends.length;
      next = (next + 1) % backends.length;
      tried.add(index);
      const backend = backends[index];
      if (!backend.enabled) return attempt();
      const upstream = connect(backend.port, '127.0.0.1');
      const failed = () => attempt();
      upstream.once('error', failed);
      upstream.once('connect', () => {
        upstream.off('error', failed);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        const pair = { client, upstream, backend: index };
        pairs.add(pair);
        const drop = () => {
          pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream);
        upstream.pipe(client);
      });
    };
    attempt();
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    // (Until a backend takes it, the client is paused: what it sends waits in its socket.)
    client.on('error', () => client.destroy());
    route(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  // Cuts the given connections, as a network failure would: a reset, no goodbye.
  function cut(selected) {
    let n = 0;
    for (const pair of selected) {
      pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
      n++;
    }
    return n;
  }

  return {
    port: server.address().port,
    url: `http://127.0.0.1:${server.address().port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    // Connections open now to backend i.
    openTo(i) {
      return [...pairs].filter((p) => p.backend === i).length;
    },
    cutAll() {
      return cut([...pairs]);
    },
    // Cuts every connection open now to backend i.
    cutBackend(i) {
      return cut([...pairs].filter((p) => p.backend === i));
    },
    // A disabled backend gets no new connection (those it has stay), as a load balancer
    // draining it for a restart.
    disable(i) {
      backends[i].enabled = false;
    },
    enable(i) {
      backends[i].enabled = true;
    },
    // Replaces the backend list (open connections stay where they are).
    setBackends(ports) {
      backends = ports.map((port) => ({ port, enabled: true }));
      next = 0;
    },
    get backends() {
      return backends.map((b) => ({ ...b }));
    },
    close() {
      this.cutAll();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
