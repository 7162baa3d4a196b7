import { MojoSocketHandler, event } from 'mojo-ts';

/** The benchmark's channel, /BenchSocket: the same three events every server serves. */
export class SocketConnectionHandler extends MojoSocketHandler {
  /** Emits the payload back to this client. */
  @event echo(payload: unknown) {
    this.emit('echo', payload);
  }

  /** Emits the payload to the whole channel. */
  @event fanout(payload: unknown) {
    this.nsp.emit('fanout', payload);
  }

  /** Calls the client's ack with the payload (the return value is the ack). */
  @event ack(payload: unknown) {
    return payload;
  }
}
