import { BlockList, isIP } from 'node:net';

/**
 * Is the TCP peer itself one of `server.trusted_proxies`? (Not the X-Forwarded-For client: the
 * question is who wrote the request's headers, and only the load balancer writes
 * `x-amzn-oidc-data`; anyone else could send one.)
 */
export function trustedPeerCheck(trustedProxies: readonly string[]): (remoteAddress: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of trustedProxies) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, family);
    else list.addSubnet(addr!, Number(bits), family);
  }
  return (remote) => {
    if (remote === undefined) return false;
    const a = remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 6 ? 'ipv6' : 'ipv4');
  };
}
