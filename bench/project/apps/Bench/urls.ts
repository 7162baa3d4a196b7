import { MojoRequestHandler } from 'mojo-ts';

/** Any page starts a session; this one is the cheapest: the visitor's first GET gets a `session_id` cookie. */
class StartSession extends MojoRequestHandler {
  async get() {
    this.json({ ok: true });
  }
}

export const urlpatterns = [['/bench/session', StartSession]];
