/**
 * Notifier on SNS: one Publish per run with the subject and text composed by the orchestrator,
 * and `status` and `dataset` as String message attributes so subscriptions can filter on them
 * (e.g. e-mail only for FAILED).
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { OrchestrationError } from '../../errors.js';
import type { Notifier, RunNotification } from '../../ports/notifier.js';
import { resilience, type Credentials, type RetrySettings } from './clients.js';

/** SNS messages are at most 256 KiB; the summary is far below, but a cut beats a rejection. */
const MAX_MESSAGE_BYTES = 250_000;

/**
 * One SNS client with the shared retry and timeout settings; AWS_ENDPOINT_URL_SNS (read by the
 * SDK) or `endpoint` points it elsewhere. Without `credentials` the default chain applies.
 */
export function snsClient(
  region: string,
  endpoint?: string,
  credentials?: Credentials,
  retry?: RetrySettings,
): SNSClient {
  return new SNSClient({
    region,
    ...resilience(retry),
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

function fit(text: string): string {
  if (Buffer.byteLength(text) <= MAX_MESSAGE_BYTES) return text;
  const cut = Buffer.from(text)
    .subarray(0, MAX_MESSAGE_BYTES)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return `${cut}\n[... cut: see the run report]\n`;
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(notification: RunNotification): Promise<{ messageId: string }> {
    try {
      const out = await this.client.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: notification.subject,
          Message: fit(notification.text),
          MessageAttributes: {
            status: { DataType: 'String', StringValue: notification.attributes.status },
            dataset: { DataType: 'String', StringValue: notification.attributes.dataset },
          },
        }),
      );
      return { messageId: out.MessageId ?? '' };
    } catch (error) {
      throw new OrchestrationError(
        'notify_failed',
        `SNS Publish to ${this.topicArn} for run ${notification.runId} failed`,
        { cause: error },
      );
    }
  }
}
