import { BlockList, SocketAddress, isIP } from 'node:net';
import type { Req } from '../util/http.js';

/** Whether an address (canonical form) is one of `trustedProxies` (addresses or CIDR blocks). */
export function trustedProxy(trustedProxies: readonly string[]): (address: string) => boolean {
  if (trustedProxies.length === 0) return () => false;
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trusted.addAddress(addr!, family);
    else trusted.addSubnet(addr!, Number(bits), family);
  }
  return (a) => isIP(a) !== 0 && trusted.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the peer's, unless the peer is a trusted proxy, in which case the
 * right-most address in X-Forwarded-For that is not itself a trusted proxy.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): (req: Req) => string {
  if (trustedProxies.length === 0) return (req) => canonicalAddress(req.socket.remoteAddress ?? '');
  const isTrusted = trustedProxy(trustedProxies);
  return (req) => {
    const peer = canonicalAddress(req.socket.remoteAddress ?? '');
    if (!isTrusted(peer)) return peer;
    const xff = req.headers['x-forwarded-for'];
    const list = (Array.isArray(xff) ? xff.join(',') : xff ?? '').split(',').map((s) => canonicalAddress(s.trim())).filter(Boolean);
    for (let i = list.length - 1; i >= 0; i--) {
      if (!isTrusted(list[i]!)) return isIP(list[i]!) !== 0 ? list[i]! : peer;
    }
    return list[0] ?? peer;
  };
}

const MAPPED_IPV4 = '::ffff:';

/**
 * The one spelling of an IP address, so that every way of writing the same client lands in the
 * same bucket (throttles, connection limits) and reads the same in logs and the audit trail:
 *
 * - IPv6 as RFC 5952 writes it (lower case, no leading zeros, the longest run of zero groups
 *   compressed): `2001:DB8:0:0:0:0:0:1` → `2001:db8::1`. Node's `SocketAddress` formats it
 *   (libuv's inet_ntop), so no hand-written parser decides what is equal.
 * - IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) in any spelling is the IPv4 address it maps:
 *   `::ffff:1.2.3.4`, `::FFFF:102:304`, `0:0:0:0:0:ffff:1.2.3.4` → `1.2.3.4`. A dual-stack
 *   listener reports IPv4 peers this way; without this the same client had two buckets.
 * - A zone id (`fe80::1%eth0`) is dropped: it names the local interface, not the client.
 *
 * Anything that is not an IP address (an empty string, a garbled X-Forwarded-For entry) is
 * returned unchanged.
 *
 * @example
 * canonicalAddress('::FFFF:203.0.113.7') // '203.0.113.7'
 */
export function canonicalAddress(address: string): string {
  const family = isIP(address);
  // isIP accepts only dotted decimal without leading zeros, which is already canonical.
  if (family !== 6) return address;
  // Every request asks (client address, throttle bucket); a few recent peers cover nearly all of them.
  let canonical = recentIpv6.get(address);
  if (canonical === undefined) {
    const formatted = new SocketAddress({ address, family: 'ipv6' }).address;
    canonical = formatted.startsWith(MAPPED_IPV4) && isIP(formatted.slice(MAPPED_IPV4.length)) === 4 ? formatted.slice(MAPPED_IPV4.length) : formatted;
    if (recentIpv6.size >= RECENT_IPV6_MAX) recentIpv6.clear();
    recentIpv6.set(address, canonical);
  }
  return canonical;
}

/** IPv6 spellings already made canonical; cleared when full, so its size stays bounded. */
const recentIpv6 = new Map<string, string>();
const RECENT_IPV6_MAX = 4096;

/**
 * The bucket a client address is counted in: an IPv4 address itself; for IPv6 its /64
 * (`2001:db8:1:2::/64`), the block a single host or household usually controls, so an
 * attacker cannot spread over the 2^64 addresses of its own network. Equal addresses in any
 * spelling give one bucket (see `canonicalAddress`); non-addresses are their own bucket.
 */
export function addressBucket(address: string): string {
  const canonical = canonicalAddress(address);
  if (isIP(canonical) !== 6) return canonical;
  const groups = expandIpv6(canonical);
  return `${new SocketAddress({ address: `${groups.slice(0, 4).join(':')}::`, family: 'ipv6' }).address}/64`;
}

/** The eight 16-bit groups of a canonical IPv6 address (`::` expanded; a dotted IPv4 tail counts as two). */
function expandIpv6(address: string): string[] {
  const [head = '', tail = ''] = address.split('::');
  const part = (s: string) => (s === '' ? [] : s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const h = part(head);
  const t = part(tail);
  return address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
}

/** `privacy.ip`: how much of a client address the audit trail and the request log keep. */
export type AddressPrivacy = 'full' | 'truncated' | 'none';

/**
 * The client address as records show it under `privacy.ip`: `full` as it is; `truncated` its
 * network, the IPv4 /24 (`203.0.113.0/24`) or IPv6 /48 (`2001:db8:1::/48`), what GDPR guidance
 * and web analytics tools treat as no longer naming one household; `none` as `-`. Anything that
 * is not an IP address (`local` for the CLI) is kept. Built once; the request path calls it
 * once per request (IPv6 networks are cached like canonical spellings).
 *
 * @example
 * addressForRecords('truncated')('198.51.100.23') // '198.51.100.0/24'
 */
export function addressForRecords(mode: AddressPrivacy): (address: string) => string {
  switch (mode) {
    case 'full':
      return (a) => a;
    case 'none':
      return () => '-';
    case 'truncated':
      return truncateAddress;
  }
}

function truncateAddress(address: string): string {
  const family = isIP(address);
  if (family === 4) return `${address.slice(0, address.lastIndexOf('.'))}.0/24`;
  if (family !== 6) return address;
  let network = recentIpv6Networks.get(address);
  if (network === undefined) {
    const canonical = canonicalAddress(address);
    network = isIP(canonical) === 4 ? truncateAddress(canonical) : `${new SocketAddress({ address: `${expandIpv6(canonical).slice(0, 3).join(':')}::`, family: 'ipv6' }).address}/48`;
    if (recentIpv6Networks.size >= RECENT_IPV6_MAX) recentIpv6Networks.clear();
    recentIpv6Networks.set(address, network);
  }
  return network;
}

/** IPv6 addresses already truncated; cleared when full, so its size stays bounded. */
const recentIpv6Networks = new Map<string, string>();
