import { MojoSocketHandler, event } from 'mojo-ts';

const MAX_LENGTH = 500;

/** Anyone on the chat page reads along; only logged-in users may post. */
export class SocketConnectionHandler extends MojoSocketHandler {
  @event('say') say(text: unknown) {
    if (!this.userId) return { error: 'Log in to post.' };
    if (typeof text !== 'string' || text.trim().length === 0 || text.length > MAX_LENGTH) {
      return { error: `Say something between 1 and ${MAX_LENGTH} characters.` };
    }
    this.nsp.emit('said', { user: this.userId, text: text.trim(), at: Date.now() });
    return { ok: true };
  }
}
