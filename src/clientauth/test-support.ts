import type { VerificationAttempt } from './throttle.js';

/**
 * For tests: an attempt that records what an authenticator asked of the throttle (`reserve`,
 * `slow`), in order, and runs every slow check at once.
 */
export function recordingAttempt(): VerificationAttempt & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    reserve: () => void calls.push('reserve'),
    slow: (verify) => {
      calls.push('slow');
      return verify();
    },
  };
}
