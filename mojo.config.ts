import { defineConfig } from 'mojo-ts';

export default defineConfig({
  port: 8000, // PORT or `mojo serve --port` override it
  cookieSecret: process.env.MOJO_SECRET ?? 'dev-only-secret', // string or string[] (rotation)
  installedApps: ['HelloWorld', 'Chat', 'Auth'],
  debug: process.env.NODE_ENV !== 'production',
  database: process.env.MOJO_DATABASE ?? 'sqlite:data/mojo.db', // sessions and users persist across restarts
  socket: { pingInterval: 25_000, pingTimeout: 20_000, maxPayload: 1_000_000 },
  auth: { loginUrl: '/auth/login/' },
});
