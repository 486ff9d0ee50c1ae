import { EventEmitter } from 'node:events';

/**
 * The switch that cuts one request's upstream exchange (the client left, a lockdown): an
 * AbortController in shape (`signal.aborted`, `abort()`), but an EventEmitter, which undici
 * takes as a request's `signal` as well. One is made per forwarded request, and an
 * AbortController with its AbortSignal (an EventTarget) cost several times more to make and to
 * listen to.
 */
export class UpstreamAbort extends EventEmitter {
  aborted = false;
  /** Why, when `abort` was given a reason; undici then rejects the exchange with it. */
  reason: unknown = undefined;

  /** Itself: it is both the controller and the signal. */
  get signal(): this {
    return this;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/** What `Instance.send` can be stopped by: a request's UpstreamAbort, or any AbortSignal (a timeout). */
export type UpstreamSignal = UpstreamAbort | AbortSignal;
