/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 only offers
 * through its legacy provider. Rather than require --openssl-legacy-provider on every node
 * command, this maps s3rver's 'des' cipher to AES-128-CBC with a key derived from the DES key.
 * The token stays an opaque string that only s3rver decodes, so the format change is invisible.
 */
import crypto from 'node:crypto';

let installed = false;

function legacyDesAvailable(): boolean {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

export function installDesShim(): void {
  if (installed || legacyDesAvailable()) return;
  installed = true;
  const aes = (key: crypto.BinaryLike, iv: crypto.BinaryLike | null) => ({
    key: crypto
      .createHash('sha256')
      .update(key as crypto.BinaryLike)
      .digest()
      .subarray(0, 16),
    iv: Buffer.concat([Buffer.from(iv as Uint8Array), Buffer.from(iv as Uint8Array)]).subarray(
      0,
      16,
    ),
  });
  const createCipheriv = crypto.createCipheriv;
  const createDecipheriv = crypto.createDecipheriv;
  const target = crypto as unknown as Record<string, unknown>;
  target.createCipheriv = (
    algorithm: string,
    key: crypto.BinaryLike,
    iv: crypto.BinaryLike | null,
    options?: unknown,
  ) => {
    if (algorithm !== 'des')
      return createCipheriv(algorithm, key as crypto.CipherKey, iv, options as never);
    const a = aes(key, iv);
    return createCipheriv('aes-128-cbc', a.key, a.iv);
  };
  target.createDecipheriv = (
    algorithm: string,
    key: crypto.BinaryLike,
    iv: crypto.BinaryLike | null,
    options?: unknown,
  ) => {
    if (algorithm !== 'des')
      return createDecipheriv(algorithm, key as crypto.CipherKey, iv, options as never);
    const a = aes(key, iv);
    return createDecipheriv('aes-128-cbc', a.key, a.iv);
  };
}
