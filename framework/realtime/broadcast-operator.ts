import { PacketType, RESERVED_EVENTS } from '../protocol/index.ts';
import { RealtimeError } from './errors.ts';
import type { Namespace } from './namespace.ts';
import type { Room } from './types.ts';

/**
 * A broadcast being aimed: `to`/`in` add rooms, `except` removes their members; `emit` sends,
 * encoding the packet once for every recipient. Each call returns a new operator.
 * @example io.to('lobby').except('muted').emit('news', text);
 */
export class BroadcastOperator {
  constructor(
    private readonly nsp: Namespace,
    private readonly rooms: ReadonlySet<Room>,
    private readonly exceptRooms: ReadonlySet<Room>,
    private readonly onlyLocal = false,
  ) {}

  to(room: Room | readonly Room[]): BroadcastOperator {
    return new BroadcastOperator(this.nsp, union(this.rooms, room), this.exceptRooms, this.onlyLocal);
  }

  /** The same broadcast, to this process's sockets only (with a cluster adapter). */
  get local(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, this.exceptRooms, true);
  }

  in(room: Room | readonly Room[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: Room | readonly Room[]): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, union(this.exceptRooms, room), this.onlyLocal);
  }

  /** Sends `event` to every selected socket. Acknowledgements are not supported for broadcasts. */
  emit(event: string, ...args: unknown[]): true {
    if (RESERVED_EVENTS.has(event)) throw new RealtimeError('ERR_RESERVED_EVENT', `"${event}" is a reserved event name and cannot be emitted`);
    const target = { rooms: this.rooms, except: this.exceptRooms, local: this.onlyLocal };
    this.nsp.adapter.broadcast({ type: PacketType.EVENT, nsp: this.nsp.name, data: [event, ...args] }, target);
    return true;
  }

  /** Emits a `message` event to every selected socket. */
  send(...args: unknown[]): true {
    return this.emit('message', ...args);
  }

  /** The local sockets selected. */
  fetchSockets() {
    const sockets = this.nsp.sockets;
    return [...this.nsp.adapter.select({ rooms: this.rooms, except: this.exceptRooms })].map((id) => sockets.get(id)!);
  }

  socketsJoin(room: Room | readonly Room[]): void {
    for (const socket of this.fetchSockets()) socket.join(room);
  }

  socketsLeave(room: Room): void {
    for (const socket of this.fetchSockets()) socket.leave(room);
  }

  disconnectSockets(close = false): void {
    for (const socket of this.fetchSockets()) socket.disconnect(close);
  }
}

function union(set: ReadonlySet<Room>, more: Room | readonly Room[]): Set<Room> {
  const result = new Set(set);
  if (typeof more === 'string') result.add(more);
  else for (const room of more) result.add(room);
  return result;
}
