import { MojoRequestHandler, UserError } from 'mojo-ts';

/** Only local paths are followed after login, so `?next=` cannot send anyone off-site. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/chat/';
}

class Login extends MojoRequestHandler {
  async get() {
    if (this.currentUser) return this.redirect(safeNext(this.query.next));
    this.render('login.html', { next: safeNext(this.query.next) });
  }

  async post() {
    const username = String(this.body.username ?? '');
    const user = await this.users.verify(username, String(this.body.password ?? ''));
    if (!user) {
      this.status(401).render('login.html', { next: safeNext(this.body.next), username, error: 'Wrong username or password.' });
      return;
    }
    await this.login(user.id);
    this.redirect(safeNext(this.body.next), 303);
  }
}

class Register extends MojoRequestHandler {
  async get() {
    this.render('register.html');
  }

  async post() {
    const username = String(this.body.username ?? '');
    try {
      const user = await this.users.create(username, String(this.body.password ?? ''));
      await this.login(user.id);
      this.redirect('/chat/', 303);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      this.status(400).render('register.html', { username, error: err.message });
    }
  }
}

class Logout extends MojoRequestHandler {
  async post() {
    await this.logout();
    this.redirect('/', 303);
  }
}

export const urlpatterns = [
  ['/auth/login/', Login],
  ['/auth/register/', Register],
  ['/auth/logout/', Logout],
];
