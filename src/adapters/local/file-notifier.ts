/**
 * Notifier for the local runtime: prints the notification and writes it under
 * <data dir>/notifications/ as the JSON body SNS delivers to an SQS or HTTP subscriber
 * (Type, MessageId, Subject, Message, Timestamp, MessageAttributes), one file per publish.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Notifier, RunNotification } from '../../ports/notifier.js';

export interface StoredNotification {
  Type: 'Notification';
  MessageId: string;
  TopicArn: string;
  Subject: string;
  Message: string;
  Timestamp: string;
  MessageAttributes: Record<string, { Type: 'String'; Value: string }>;
  /** Not in SNS's body: which run it is about, for `cartpipe status` and tests. */
  runId: string;
}

export const LOCAL_TOPIC_ARN = 'arn:aws:sns:local:000000000000:cartpipe-runs';

export class FileNotifier implements Notifier {
  /**
   * @param dir folder of the notification files
   * @param print where the text goes for a person (nothing when omitted)
   */
  constructor(
    readonly dir: string,
    private readonly print?: (text: string) => void,
  ) {}

  async publish(notification: RunNotification): Promise<{ messageId: string }> {
    const messageId = randomUUID();
    const timestamp = new Date().toISOString();
    const body: StoredNotification = {
      Type: 'Notification',
      MessageId: messageId,
      TopicArn: LOCAL_TOPIC_ARN,
      Subject: notification.subject,
      Message: notification.text,
      Timestamp: timestamp,
      MessageAttributes: {
        status: { Type: 'String', Value: notification.attributes.status },
        dataset: { Type: 'String', Value: notification.attributes.dataset },
      },
      runId: notification.runId,
    };
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${timestamp.replace(/[:.]/g, '-')}-${notification.runId}.json`);
    writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
    this.print?.(`${notification.subject}\n\n${notification.text}\n(written to ${file})`);
    return { messageId };
  }
}

/** The notifications written under `dir`, oldest first; only those of `runId` when given. */
export function readNotifications(
  dir: string,
  runId?: string,
): { file: string; notification: StoredNotification }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({
      file: join(dir, name),
      notification: JSON.parse(readFileSync(join(dir, name), 'utf8')) as StoredNotification,
    }))
    .filter((n) => runId === undefined || n.notification.runId === runId);
}
