import type { RealtimeServer } from './realtime-server.ts';

/** A snapshot of a realtime server's load (TornadIO2's `StatsCollector.dump()`, camel-cased). */
export interface StatsSnapshot {
  /** Engine.IO sessions open now (one per client connection). */
  activeSessions: number;
  maxSessions: number;
  /** Endpoint (namespace) connections open now; a client on two endpoints counts twice. */
  activeConnections: number;
  maxConnections: number;
  /** Moving averages over the last `window` seconds. */
  connectionsPerSecond: number;
  packetsSentPerSecond: number;
  packetsReceivedPerSecond: number;
  /** When collection started, ms since the epoch. */
  startTime: number;
}

/**
 * Samples a server's counters once a second and keeps moving averages over a window of samples,
 * like TornadIO2's `StatsCollector` (10 samples, flushed every 1000 ms).
 * @example const stats = new StatsCollector(io); setInterval(() => console.log(stats.dump()), 5000);
 */
export class StatsCollector {
  readonly startTime = Date.now();
  private readonly samples: Array<[connections: number, sent: number, received: number]> = [];
  private last: [number, number, number];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly io: RealtimeServer,
    private readonly window = 10,
    interval = 1000,
  ) {
    this.last = this.totals();
    this.timer = setInterval(() => this.sample(interval), interval);
    this.timer.unref();
  }

  dump(): StatsSnapshot {
    const engine = this.io.engine;
    const counters = this.io.counters;
    const average = (i: 0 | 1 | 2) => (this.samples.length === 0 ? 0 : round(this.samples.reduce((sum, s) => sum + s[i], 0) / this.samples.length));
    return {
      activeSessions: engine.clientsCount,
      maxSessions: engine.counters.maxSessions,
      activeConnections: counters.activeConnections,
      maxConnections: counters.maxConnections,
      connectionsPerSecond: average(0),
      packetsSentPerSecond: average(1),
      packetsReceivedPerSecond: average(2),
      startTime: this.startTime,
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private totals(): [number, number, number] {
    const engine = this.io.engine.counters;
    return [this.io.counters.connectionsOpened, engine.packetsSent, engine.packetsReceived];
  }

  private sample(interval: number): void {
    const now = this.totals();
    const perSecond = 1000 / interval;
    this.samples.push([(now[0] - this.last[0]) * perSecond, (now[1] - this.last[1]) * perSecond, (now[2] - this.last[2]) * perSecond]);
    if (this.samples.length > this.window) this.samples.shift();
    this.last = now;
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
