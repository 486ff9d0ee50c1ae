import { verify } from 'node:crypto';
import type { Logger } from '../../observability/logger.js';
import type { Authenticator, AuthOutcome } from '../authenticator.js';
import type { AlbAuthConfig } from './config.js';
import { federatedPrincipal } from '../oidc/authenticator.js';
import { decodeJsonSegment } from '../oidc/jwt.js';
import type { RoleTable } from '../rbac.js';
import { AlbKeys } from './keys.js';
import { trustedPeerCheck } from './trusted-peer.js';

export const ALB_DATA_HEADER = 'x-amzn-oidc-data';
const SEGMENT = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * The AWS Application Load Balancer's `x-amzn-oidc-data` header (ALB `authenticate-oidc` /
 * `authenticate-cognito` actions): an ES256 JWT signed by the load balancer, with `kid` and
 * `signer` (the ALB's ARN) in its header. Claimed only when the TCP peer is one of
 * `server.trusted_proxies`; from any other peer the header is ignored and the request is
 * decided by the other authenticators.
 *
 * Verified by hand rather than with jose because ALB encodes the segments as base64url *with*
 * `=` padding, which strict JWS parsers refuse; the signature is over the segments as sent.
 */
export function albAuthenticator(config: AlbAuthConfig, trustedProxies: readonly string[], roles: RoleTable, logger: Logger, now: () => number = Date.now): Authenticator {
  const fromTrustedPeer = trustedPeerCheck(trustedProxies);
  const keys = new AlbKeys(config.public_key_endpoint ?? `https://public-keys.auth.elb.${config.region}.amazonaws.com`, config.timeout, logger, now);

  return {
    method: 'alb',
    claims: (ctx) => ctx.req.headers[ALB_DATA_HEADER] !== undefined && fromTrustedPeer(ctx.req.socket.remoteAddress),
    async authenticate(ctx): Promise<AuthOutcome> {
      const raw = ctx.req.headers[ALB_DATA_HEADER];
      const token = (Array.isArray(raw) ? raw[0] : raw)?.trim() ?? '';
      const parts = token.split('.');
      if (parts.length !== 3 || !parts.every((s) => SEGMENT.test(s))) return { ok: false, reason: 'malformed', guess: true };
      const [h, p, s] = parts as [string, string, string];
      const header = decodeJsonSegment(h);
      const payload = decodeJsonSegment(p);
      if (!header || !payload) return { ok: false, reason: 'malformed', guess: true };
      if (header['alg'] !== 'ES256') return { ok: false, reason: 'alg_not_allowed', guess: true };
      if (config.signer_arn !== undefined && header['signer'] !== config.signer_arn) return { ok: false, reason: 'wrong_signer', guess: true };
      if (config.client_id !== undefined && header['client'] !== config.client_id) return { ok: false, reason: 'wrong_client', guess: false };
      if (typeof header['kid'] !== 'string') return { ok: false, reason: 'malformed', guess: true };
      const key = await keys.get(header['kid']);
      if (key === undefined) return { ok: false, reason: 'unknown_kid', guess: true };
      const signature = Buffer.from(s.replace(/=+$/, ''), 'base64url');
      const valid = signature.length === 64 && verify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, signature);
      if (!valid) return { ok: false, reason: 'bad_signature', guess: true };
      // Checked after the signature, so a forged payload cannot learn anything from the answer.
      const exp = header['exp'] ?? payload['exp'];
      if (typeof exp !== 'number' || exp * 1000 + config.clock_skew <= now()) return { ok: false, reason: 'expired', guess: false };
      if (config.issuer !== undefined && payload['iss'] !== config.issuer) return { ok: false, reason: 'wrong_issuer', guess: false };
      if (typeof payload['sub'] !== 'string' || payload['sub'] === '') return { ok: false, reason: 'malformed', guess: false };
      const iss = typeof payload['iss'] === 'string' ? payload['iss'] : String(header['signer'] ?? 'alb');
      return { ok: true, principal: federatedPrincipal('alb', iss, payload, config, roles) };
    },
  };
}
