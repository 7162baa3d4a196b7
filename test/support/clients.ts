/**
 * The `socket.io-client` sockets a test made, with their managers, so the support module that
 * made them can cut them all in its cleanup. Each module keeps its own registry.
 */
import type { Manager, Socket as ClientSocket } from 'socket.io-client';

export class ClientRegistry {
  private readonly sockets = new Set<ClientSocket>();
  private readonly managers = new Set<Manager>();

  /** Registers `socket` (and its manager) and returns it. */
  track(socket: ClientSocket): ClientSocket {
    this.sockets.add(socket);
    this.managers.add(socket.io);
    return socket;
  }

  /** Disconnects every socket, closes every manager's connection with reconnection off, and forgets them. */
  disconnectAll(): void {
    for (const socket of this.sockets) socket.disconnect();
    for (const manager of this.managers) {
      manager.reconnection(false);
      manager.engine?.close();
    }
    this.sockets.clear();
    this.managers.clear();
  }
}
