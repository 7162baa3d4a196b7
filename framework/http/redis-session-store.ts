import session from 'express-session';
import type { SessionData } from 'express-session';
import type { createClient } from '@redis/client';
import type { LiveSession } from './context.ts';

type Client = ReturnType<typeof createClient>;

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * An express-session store in Redis, so a login made on one node is valid on every node. Each
 * session is one key with the session's own expiry. When Redis is unreachable the store fails at
 * once (the request gets an error page) instead of waiting.
 * @example app.use(session({ store: new RedisSessionStore(client, { maxAgeMs: 14 * 86_400_000 }), secret }));
 */
export class RedisSessionStore extends session.Store {
  private readonly prefix: string;
  private readonly maxAgeMs: number;

  constructor(
    private readonly client: Client,
    options: { maxAgeMs: number; prefix?: string },
  ) {
    super();
    this.maxAgeMs = options.maxAgeMs;
    this.prefix = `${options.prefix ?? 'mojo'}:sess:`;
  }

  /** The session `sid`, or null when unknown or expired. */
  async getSession(sid: string): Promise<SessionData | null> {
    const raw = await this.client.get(this.prefix + sid);
    if (raw === null) return null;
    const data = JSON.parse(raw) as SessionData;
    if (data.cookie?.expires) data.cookie.expires = new Date(data.cookie.expires);
    return data;
  }

  /** The session `sid` reduced to its login, or null when unknown or expired. */
  async getLiveSession(sid: string): Promise<LiveSession | null> {
    const raw = await this.client.get(this.prefix + sid);
    if (raw === null) return null;
    // No Date to rebuild for this: only the login is read.
    const { userId } = JSON.parse(raw) as SessionData;
    return { userId: typeof userId === 'string' ? userId : null };
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.getSession(sid).then((data) => callback(null, data), (err) => callback(err));
  }

  override set(sid: string, data: SessionData, callback?: Callback): void {
    this.client
      .set(this.prefix + sid, JSON.stringify(data), { PX: this.ttlOf(data) })
      .then(() => callback?.(), (err) => callback?.(err));
  }

  override destroy(sid: string, callback?: Callback): void {
    this.client.del(this.prefix + sid).then(() => callback?.(), (err) => callback?.(err));
  }

  override touch(sid: string, data: SessionData, callback?: Callback): void {
    this.client.pExpire(this.prefix + sid, this.ttlOf(data)).then(() => callback?.(), (err) => callback?.(err));
  }

  /** Nothing to stop: the Redis client belongs to the cluster. */
  close(): void {}

  private ttlOf(data: SessionData): number {
    const expires = data.cookie?.expires ? new Date(data.cookie.expires).getTime() - Date.now() : data.cookie?.maxAge ?? this.maxAgeMs;
    return Math.max(1, Math.round(expires ?? this.maxAgeMs));
  }
}
