import { EnginePacketType, PreparedPacket } from '../engine/index.ts';
import { PacketType, encodePacket, type Packet } from '../protocol/index.ts';
import type { Namespace } from './namespace.ts';
import type { Room, SocketId } from './types.ts';

/** Who a broadcast goes to: members of any of `rooms` (everyone when empty), minus members of `except`. */
export interface BroadcastTarget {
  readonly rooms: ReadonlySet<Room>;
  readonly except: ReadonlySet<Room>;
  /** Only this process's sockets (a cluster adapter does not forward it). */
  readonly local?: boolean;
}

/**
 * Rooms of one namespace and delivery to them. A socket's own id works as a room without being
 * stored as one, so a socket that joins nothing costs the adapter nothing. A cluster adapter
 * replaces this class to reach other processes.
 */
export class InMemoryAdapter {
  readonly rooms = new Map<Room, Set<SocketId>>();
  readonly sids = new Map<SocketId, Set<Room>>();

  constructor(readonly nsp: Namespace) {}

  addAll(id: SocketId, rooms: Iterable<Room>): void {
    let joined = this.sids.get(id);
    for (const room of rooms) {
      if (room === id) continue;
      if (!joined) this.sids.set(id, (joined = new Set()));
      joined.add(room);
      let members = this.rooms.get(room);
      if (!members) this.rooms.set(room, (members = new Set()));
      members.add(id);
    }
  }

  del(id: SocketId, room: Room): void {
    const joined = this.sids.get(id);
    if (!joined?.delete(room)) return;
    if (joined.size === 0) this.sids.delete(id);
    const members = this.rooms.get(room);
    if (members?.delete(id) && members.size === 0) this.rooms.delete(room);
  }

  delAll(id: SocketId): void {
    const joined = this.sids.get(id);
    if (!joined) return;
    this.sids.delete(id);
    for (const room of joined) {
      const members = this.rooms.get(room);
      if (members?.delete(id) && members.size === 0) this.rooms.delete(room);
    }
  }

  /** Rooms `id` is in, its own id first. */
  socketRooms(id: SocketId): Set<Room> {
    const rooms = new Set<Room>([id]);
    const joined = this.sids.get(id);
    if (joined) for (const room of joined) rooms.add(room);
    return rooms;
  }

  /** Ids of the local sockets `target` selects. */
  select(target: BroadcastTarget): Set<SocketId> {
    const chosen = new Set<SocketId>();
    const sockets = this.nsp.sockets;
    if (target.rooms.size === 0) {
      for (const id of sockets.keys()) if (!this.excluded(id, target.except)) chosen.add(id);
      return chosen;
    }
    for (const room of target.rooms) {
      const members = this.rooms.get(room);
      if (members) for (const id of members) if (!this.excluded(id, target.except)) chosen.add(id);
      if (sockets.has(room) && !this.excluded(room, target.except)) chosen.add(room);
    }
    return chosen;
  }

  /** Delivers `packet` to the sockets `target` selects, encoding it once for all of them. */
  broadcast(packet: Packet, target: BroadcastTarget): void {
    const recovery = this.nsp.recovery;
    const logged = recovery !== null && packet.type === PacketType.EVENT && packet.id === undefined;
    // A logged event carries its offset as its last argument, and is kept as encoded.
    let offset = 0;
    if (logged) {
      (packet.data as unknown[]).push(recovery.next());
      offset = recovery.head;
    }
    const parts = prepare(packet);
    if (logged) recovery.keep(offset, target, parts.length === 1 ? parts[0]!.packet : parts.map((part) => part.packet));
    const sockets = this.nsp.sockets;
    if (target.rooms.size === 0 && target.except.size === 0) {
      for (const socket of sockets.values()) socket.writePrepared(parts, offset);
      return;
    }
    for (const id of this.select(target)) sockets.get(id)?.writePrepared(parts, offset);
  }

  private excluded(id: SocketId, except: ReadonlySet<Room>): boolean {
    if (except.size === 0) return false;
    if (except.has(id)) return true;
    const joined = this.sids.get(id);
    if (!joined) return false;
    for (const room of except) if (joined.has(room)) return true;
    return false;
  }
}

/** Encodes a packet into Engine.IO messages that can each be written to many sessions. */
export function prepare(packet: Packet): PreparedPacket[] {
  const [text, ...attachments] = encodePacket(packet);
  const parts = [new PreparedPacket(EnginePacketType.MESSAGE + text)];
  for (const attachment of attachments) parts.push(new PreparedPacket(attachment));
  return parts;
}
