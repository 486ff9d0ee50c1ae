import { BlockList, isIP } from 'node:net';
import type { Req } from '../util/http.js';

/**
 * The client's address: the peer's, unless the peer is a trusted proxy, in which case the
 * right-most address in X-Forwarded-For that is not itself a trusted proxy.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): (req: Req) => string {
  if (trustedProxies.length === 0) return (req) => normalize(req.socket.remoteAddress ?? '');
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trusted.addAddress(addr!, family);
    else trusted.addSubnet(addr!, Number(bits), family);
  }
  const isTrusted = (a: string) => isIP(a) !== 0 && trusted.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
  return (req) => {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!isTrusted(peer)) return peer;
    const xff = req.headers['x-forwarded-for'];
    const list = (Array.isArray(xff) ? xff.join(',') : xff ?? '').split(',').map((s) => normalize(s.trim())).filter(Boolean);
    for (let i = list.length - 1; i >= 0; i--) {
      if (!isTrusted(list[i]!)) return isIP(list[i]!) !== 0 ? list[i]! : peer;
    }
    return list[0] ?? peer;
  };
}

function normalize(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
