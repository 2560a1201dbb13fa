// Bridged clients in Node for the reliability tests: each has its own bus and its own
// EventBridge on a URL of its own (bridges on one URL would share a connection), and records
// what it receives and which status events it saw.
import { createEventBus, EventBridge } from 'ssebus';

export const eventName = 'chaos:tick'; // arrives on the bus as chaos_tick

// `lastEventId`: every client resumes after that id, as if it had seen it.
export async function startClients(n, baseUrl, tag, { heartbeatTimeoutMs = 500, lastEventId } = {}) {
  const clients = [];
  for (let i = 0; i < n; i++) {
    const bus = await createEventBus();
    const client = { name: `${tag}c${i}`, bus, ids: [], ns: [], gaps: [], gapsAt: [], opens: 0, reconnects: 0, errors: 0, bridge: null };
    bus.on('chaos_tick', (payload, meta) => {
      client.ids.push(meta.id);
      client.ns.push(payload.n);
    });
    bus.on('ssebus:gap', (payload) => {
      client.gaps.push(payload);
      client.gapsAt.push(client.ids.length); // how many events had arrived before it
    });
    bus.on('ssebus:open', () => client.opens++);
    bus.on('ssebus:reconnecting', () => client.reconnects++);
    bus.on('ssebus:error', () => client.errors++);
    client.bridge = new EventBridge(bus, {
      url: `${baseUrl}/api/events?clientId=${client.name}`,
      reconnect: { initialMs: 10, maxMs: 200 },
      heartbeatTimeoutMs,
      ...(lastEventId !== undefined ? { lastEventId: String(lastEventId) } : {}),
    }).connect();
    clients.push(client);
  }
  return clients;
}

export function stopClients(clients = []) {
  for (const c of clients) {
    c.bridge?.close();
    c.bus.destroy();
  }
}

// What a client received compared with what was published (ids and payload numbers, in
// order): counts, plus the first place where it differs.
export function compare(client, expectedIds, expectedNs, from = 0) {
  const ids = client.ids.slice(from);
  const ns = client.ns.slice(from);
  const seen = new Set(ids);
  const unique = seen.size;
  let firstDiff = -1;
  const len = Math.max(ids.length, expectedIds.length);
  for (let i = 0; i < len; i++) {
    if (ids[i] !== expectedIds[i] || ns[i] !== expectedNs[i]) {
      firstDiff = i;
      break;
    }
  }
  return {
    received: ids.length,
    duplicated: ids.length - unique,
    missing: expectedIds.filter((id) => !seen.has(id)).length,
    firstDiff:
      firstDiff < 0
        ? null
        : { at: firstDiff, got: [ids[firstDiff], ns[firstDiff]], want: [expectedIds[firstDiff], expectedNs[firstDiff]] },
  };
}
