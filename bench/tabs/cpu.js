// CPU time on Linux from /proc: the whole machine's busy time, and this process's tree
// (node, the Chromium it launched, the ssebus-server it started). What the machine spent
// beyond the tree is other load, which makes latency tails long on two cores.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_S = 0.01; // USER_HZ: 100 on Linux

function machineBusySeconds() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) * TICK_S;
}

// pid -> [ppid, seconds of CPU]; processes that vanish while being read are left out.
function processes() {
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3, state
      all.set(Number(name), [Number(after[1]), (Number(after[11]) + Number(after[12])) * TICK_S]);
    } catch {
      // gone
    }
  }
  return all;
}

function treeSeconds(root) {
  const all = processes();
  const children = new Map();
  for (const [pid, [ppid]] of all) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop();
    total += all.get(pid)?.[1] ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Starts a measurement; stop() gives the cores other processes kept busy meanwhile. */
export function otherLoad() {
  const t0 = performance.now();
  const machine0 = machineBusySeconds();
  const own0 = treeSeconds(process.pid);
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      const other = machineBusySeconds() - machine0 - (treeSeconds(process.pid) - own0);
      return Math.max(0, other / seconds);
    },
  };
}
