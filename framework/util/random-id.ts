import { randomBytes } from 'node:crypto';

const POOL_SIZE = 15 * 256;
let pool = Buffer.alloc(0);
let offset = POOL_SIZE;

/** A 20-character URL-safe random id (120 bits), drawn from a pooled buffer to keep connects cheap. */
export function randomId(): string {
  if (offset >= POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 15);
  offset += 15;
  return id;
}
