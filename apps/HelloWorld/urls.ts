import { CURRENT_SESSIONS, MojoRequestHandler } from 'mojo-ts';

/** Mojo's "it works" page; every visit is announced live to the visitors already here. */
class Welcome extends MojoRequestHandler {
  async get() {
    const who = this.currentUser ?? 'A visitor';
    CURRENT_SESSIONS.in('HelloWorld').emit('joined', { who, at: new Date().toISOString() });
    this.render('welcome.html', { here: CURRENT_SESSIONS.in('HelloWorld').size });
  }
}

export const urlpatterns = [['/', Welcome]];
