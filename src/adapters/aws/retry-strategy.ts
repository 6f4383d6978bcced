/**
 * The SDK's adaptive retries without its retry quota.
 *
 * The SDK's standard and adaptive strategies share one token bucket per client (500 tokens, 14 a
 * retried timeout or 5xx, 5 a throttle; a success puts back 1): once it is empty, no call of that
 * client is retried until successes refill it. That protects a request-serving fleet from retry
 * storms; for a batch job it turns one short, correlated stall into a failed run. A stage keeps
 * up to 50 requests in flight on one client, so a few seconds of network or server trouble that
 * times all of them out (50 x 14 = 700 tokens) leaves the next ordinary fault unretried. The
 * Terraform AWS provider drops the quota for the same reason (aws-sdk-go-base: ratelimit.None).
 *
 * What stays: the attempts bound (CARTPIPE_AWS_MAX_ATTEMPTS), the SDK's rules for which errors
 * are retried (throttling and transient: timeouts, dropped connections, 500/502/503/504),
 * exponential backoff with full jitter from the SDK's delay bases and cap, Retry-After hints,
 * and adaptive mode's client-side rate limiter, which slows a throttled client down.
 */
import {
  DEFAULT_RETRY_DELAY_BASE,
  DefaultRateLimiter,
  MAXIMUM_RETRY_DELAY,
  THROTTLING_RETRY_DELAY_BASE,
} from '@smithy/core/retry';
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/** The longest a Retry-After hint may stretch a backoff beyond its own delay (as the SDK). */
const RETRY_AFTER_EXTRA_MS = 5_000;

function retryToken(retryCount: number, retryDelay: number): RetryToken {
  return { getRetryCount: () => retryCount, getRetryDelay: () => retryDelay };
}

export class UnmeteredRetryStrategy implements RetryStrategyV2 {
  private readonly rateLimiter = new DefaultRateLimiter();

  /** @param maxAttempts tries of a call in all, the first one included. */
  constructor(private readonly maxAttempts: number) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    await this.rateLimiter.getSendToken();
    return retryToken(0, 0);
  }

  async refreshRetryTokenForRetry(
    previous: RetryToken,
    errorInfo: RetryErrorInfo,
  ): Promise<RetryToken> {
    this.rateLimiter.updateClientSendingRate(errorInfo);
    const retryCount = previous.getRetryCount() + 1;
    const retryable = errorInfo.errorType === 'THROTTLING' || errorInfo.errorType === 'TRANSIENT';
    // The SDK rethrows the call's own error when this throws: this message is never shown.
    if (!retryable || retryCount >= this.maxAttempts) throw new Error('no retry');
    const base =
      errorInfo.errorType === 'THROTTLING' ? THROTTLING_RETRY_DELAY_BASE : DEFAULT_RETRY_DELAY_BASE;
    let delay = Math.floor(Math.random() * Math.min(MAXIMUM_RETRY_DELAY, base * 2 ** retryCount));
    if (errorInfo.retryAfterHint instanceof Date) {
      const hinted = errorInfo.retryAfterHint.getTime() - Date.now();
      delay = Math.max(delay, Math.min(hinted, delay + RETRY_AFTER_EXTRA_MS));
    }
    await this.rateLimiter.getSendToken();
    return retryToken(retryCount, delay);
  }

  recordSuccess(): void {
    this.rateLimiter.updateClientSendingRate({});
  }
}
