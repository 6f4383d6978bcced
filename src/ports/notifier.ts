/** The notifier port: publishes one run notification (SNS on AWS, a file and stdout locally). */

export interface RunNotification {
  runId: string;
  /** One line, printable ASCII, at most 99 characters (SNS's limit). */
  subject: string;
  /** Plain text for people (e-mail subscribers). */
  text: string;
  /** For subscription filter policies. */
  attributes: { status: string; dataset: string };
}

export interface Notifier {
  /** @returns the message id the backend assigned. */
  publish(notification: RunNotification): Promise<{ messageId: string }>;
}
