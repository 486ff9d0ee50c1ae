import net from 'node:net';
import { GUARD_ACTIVE, GUARD_MARKER } from './k8s-loopback-markers.js';

/**
 * Preloaded (`node --import`) into a CLI child that runs a deployment's real config: every TCP
 * connection to anything but loopback is refused before a packet leaves, and reported on stderr
 * with `GUARD_MARKER` (k8s-loopback-markers.ts), so a test can prove that `config check` on a
 * production config called no real provider or cloud endpoint. Host names other than `localhost` are refused
 * without being looked up. Unix sockets are allowed.
 *
 * @example
 * // LOOPBACK_ONLY_URL from k8s-loopback-markers.ts
 * runCli(['config', 'check', ...], { cwd, env: { NODE_OPTIONS: `--import ${LOOPBACK_ONLY_URL}` } });
 */

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

/** Where a `socket.connect(...)` call goes: `path` for a Unix socket, else host and port. */
function target(args: unknown[]): { path?: string; host: string; port: string } {
  let first = args[0];
  // net.connect(options) reaches Socket#connect as [[options, cb]] (normalized arguments).
  if (Array.isArray(first)) first = first[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { path?: string; host?: string; port?: number | string };
    return { path: o.path, host: o.host ?? 'localhost', port: String(o.port ?? '') };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first, host: '', port: '' };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: String(first ?? '') };
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const t = target(args);
  if (t.path === undefined && !isLoopback(t.host)) {
    const message = `${GUARD_MARKER} a connection to ${t.host}:${t.port}`;
    process.stderr.write(`${message}\n`);
    process.nextTick(() => this.destroy(new Error(message)));
    return this;
  }
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

process.stderr.write(`${GUARD_ACTIVE}\n`);
