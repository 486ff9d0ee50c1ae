/**
 * What the loopback-only preload (k8s-loopback-only.ts) writes to stderr. Kept apart from the
 * preload itself, so a test reads these without installing the guard in its own process.
 */

/** Every refused connection: `<marker> a connection to <host>:<port>`. */
export const GUARD_MARKER = 'LOOPBACK-ONLY-GUARD refused';

/** Written once the guard is installed, so a test can tell it was preloaded. */
export const GUARD_ACTIVE = 'LOOPBACK-ONLY-GUARD active';

/** `file:` URL of the compiled preload, for `node --import`. */
export const LOOPBACK_ONLY_URL = new URL('./k8s-loopback-only.js', import.meta.url).href;
