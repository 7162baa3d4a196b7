import { createLogger } from './logger.ts';

const log = createLogger('deadlines');

/**
 * What an item needs to wait in a {@link Deadlines} queue: the queue links items through these
 * fields instead of allocating anything per item. An item starts with them 0 and null.
 */
export interface Scheduled {
  /** When the item is due (on its queue's clock, ms); meaningful while `deadlines` is set. */
  deadlineAt: number;
  deadlinePrev: Scheduled | null;
  deadlineNext: Scheduled | null;
  /** The queue the item waits in, or null. */
  deadlines: Deadlines<any> | null;
}

/**
 * Many timeouts of one fixed length (every session's heartbeat, say) on a single timer. Because
 * every item waits the same `delay`, items fall due in the order they were added: the queue is a
 * linked list through the items themselves, adding and removing are O(1), and only the earliest
 * item has a timer. A session pays a few fields instead of a timer object of its own, and
 * rescheduling (each pong) moves it to the tail.
 *
 * `expire` runs for each item when it falls due, after the item left the queue (it may add the
 * item again, to this queue or another). One that throws is logged; the others still expire.
 * The timer keeps the process alive only while items wait; when the queue empties it is kept
 * (unreferenced) for the next item, so a burst of items that come and go arms no new timers.
 *
 * @example
 * const pings = new Deadlines<Session>(25_000, (session) => session.ping());
 * pings.add(session); // due in 25 s; pings.add(session) again pushes it back to 25 s from now
 * pings.remove(session);
 */
export class Deadlines<T extends Scheduled> {
  private head: T | null = null;
  private tail: T | null = null;
  private timer: NodeJS.Timeout | null = null;
  private size = 0;

  constructor(
    /** How long every item waits (ms). */
    readonly delay: number,
    private readonly expire: (item: T) => void,
    /**
     * The clock (ms). Monotonic by default, as Node's timers are: a wall clock set back would
     * hold every item back as long.
     */
    private readonly now: () => number = monotonicNow,
  ) {
    if (!Number.isInteger(delay) || delay < 1) throw new RangeError(`Deadlines: delay must be a whole number of ms, at least 1, got ${String(delay)}`);
  }

  /** How many items wait. */
  get length(): number {
    return this.size;
  }

  /** Schedules `item` `delay` ms from now, taking it out of whatever queue it waited in. */
  add(item: T): void {
    if (item.deadlines !== null) item.deadlines.remove(item);
    item.deadlineAt = this.now() + this.delay;
    item.deadlines = this;
    item.deadlinePrev = this.tail;
    item.deadlineNext = null;
    if (this.tail === null) {
      this.head = item;
      // A timer left from before the queue emptied is due no later than this item: it fires,
      // finds nothing due and waits for this one. Cheaper than a new timer for every burst.
      this.timer?.ref();
    } else this.tail.deadlineNext = item;
    this.tail = item;
    this.size++;
    // Only a new head needs the timer armed for it. Without a timer and with a head before this
    // item, we are inside fire(), which arms for its head when it is done.
    if (this.timer === null && this.head === item) this.arm(this.delay);
  }

  /** Takes `item` out of this queue (nothing when it does not wait here). */
  remove(item: T): void {
    if (item.deadlines !== this) return;
    const prev = item.deadlinePrev as T | null;
    const next = item.deadlineNext as T | null;
    if (prev === null) this.head = next;
    else prev.deadlineNext = next;
    if (next === null) this.tail = prev;
    else next.deadlinePrev = prev;
    item.deadlinePrev = item.deadlineNext = null;
    item.deadlines = null;
    this.size--;
    // Emptied: the timer stays, without keeping the process alive, for the next item to use.
    if (this.head === null) this.timer?.unref();
  }

  /** Forgets every item without expiring it, and stops the timer. */
  clear(): void {
    while (this.head !== null) this.remove(this.head);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(fire, Math.max(1, ms), this);
  }

  /** @internal The timer: expires what is due, then waits for the next. */
  fire(): void {
    this.timer = null;
    const now = this.now();
    let item = this.head;
    while (item !== null && item.deadlineAt <= now) {
      this.remove(item);
      try {
        this.expire(item);
      } catch (err) {
        log.error('a deadline handler threw', err);
      }
      item = this.head;
    }
    // A handler may have added items (and armed the timer) already. A timer that finds the queue
    // empty ends there (the next item arms a new one).
    if (item !== null && this.timer === null) this.arm(item.deadlineAt - now);
  }
}

function monotonicNow(): number {
  return performance.now();
}

function fire(deadlines: Deadlines<any>): void {
  deadlines.fire();
}
