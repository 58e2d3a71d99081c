import { createHmac, timingSafeEqual } from "node:crypto";

/** The `X-Signature-256` value of a body: `sha256=<hex HMAC-SHA256 of the exact body bytes under secret>`. */
export function signatureOf(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * Whether `signature` (an `X-Signature-256` header) signs `body` under `secret`, compared in constant time:
 * what a receiver does before trusting a delivery.
 */
export function verifySignature(
  body: string | Buffer,
  secret: string,
  signature: string | undefined,
): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signatureOf(body, secret));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
