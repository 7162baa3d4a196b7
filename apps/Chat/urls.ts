import { LOGGED_IN_SESSIONS, MojoRequestHandler } from 'mojo-ts';

class ChatPage extends MojoRequestHandler {
  async get() {
    this.render('chat.html', { online: [...LOGGED_IN_SESSIONS.in('Chat').keys()].sort() });
  }
}

/** A private message to one user, on every tab they have open, through LOGGED_IN_SESSIONS. */
class Whisper extends MojoRequestHandler {
  static override authenticated = true;

  async post() {
    const to = String(this.body.to ?? '');
    const text = String(this.body.text ?? '').trim();
    if (!text || text.length > 500) return this.json({ error: 'Whisper between 1 and 500 characters.' }, 400);
    const reached = LOGGED_IN_SESSIONS.in('Chat').get(to)?.emit('whisper', { from: this.currentUser, text }) ?? 0;
    this.json({ ok: reached > 0, reached });
  }
}

export const urlpatterns = [
  ['/chat/', ChatPage],
  ['/chat/whisper', Whisper],
];
