/**
 * `SocketConnection<Events>`: a map of event name → listener signature types `emit` and
 * `emitAck`. The negative cases are compile-time checks (`// @ts-expect-error`), proved by
 * `tsc --noEmit` in `npm test`; they sit in a function that never runs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { SocketConnection, event } from 'mojo-ts';
import { ask, connect, once, signal, startTornadio } from './support/tornadio.ts';

interface ChatEvents {
  said: (user: string, text: string) => void;
  joined: (count: number) => void;
  [name: string]: (...args: any[]) => void;
}

type StrictEvents = {
  said: (user: string, text: string) => void;
  joined: (count: number) => void;
};

const acked = signal<unknown[]>();

class Typed extends SocketConnection<StrictEvents> {
  @event say(text: string) {
    this.emit('said', 'a', text);
    this.emitAck((...reply: unknown[]) => acked.resolve(reply), 'joined', 1);
    return 'sent';
  }
}

/** Never called: only the type checker reads it. */
function compileTimeChecks(typed: Typed, open: SocketConnection, indexed: SocketConnection<ChatEvents>): void {
  typed.emit('said', 'a', 'b');
  typed.emitAck(() => {}, 'joined', 2);
  // @ts-expect-error: `text` must be a string
  typed.emit('said', 'a', 1);
  // @ts-expect-error: `said` takes two arguments
  typed.emit('said', 'a');
  // @ts-expect-error: too many arguments
  typed.emit('said', 'a', 'b', 'c');
  // @ts-expect-error: not an event of StrictEvents
  typed.emit('nope', 'x');
  // @ts-expect-error: `count` must be a number
  typed.emitAck(() => {}, 'joined', 'one');
  // @ts-expect-error: not an event of StrictEvents
  typed.emitAck(() => {}, 'nope');

  // Without a map, any name and arguments go.
  open.emit('anything', 1, { two: 2 }, [3]);
  open.emitAck(() => {}, 'anything');

  // A map with an index signature still checks the names it lists.
  indexed.emit('other', 1, 2);
  // @ts-expect-error: `text` must be a string
  indexed.emit('said', 'a', 1);
}
void compileTimeChecks;

const ROOT = new URL('..', import.meta.url).pathname;

/** Type-checks `source` as a file of this project (its tsconfig, its modules) and returns its errors. */
function typeErrors(name: string, source: string): string[] {
  const dir = join(ROOT, '.scratch', 'typed-events');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, source);
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const program = ts.createProgram([file], options);
  const sourceFile = program.getSourceFile(file)!;
  // Only this file is checked (types it uses are resolved lazily): much faster than the whole program.
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map((d) =>
    ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  );
}

describe('typed events', () => {
  it('accepts an interface as the event map, as socket.io users declare them', () => {
    const errors = typeErrors(
      'interface-map.ts',
      [
        // The class itself rather than 'mojo-ts': the same type, a fraction of the files to load.
        "import { SocketConnection } from '../../framework/realtime/socket-connection.ts';",
        'interface ServerToClientEvents {',
        '  said: (user: string, text: string) => void;',
        '}',
        'export class Chat extends SocketConnection<ServerToClientEvents> {',
        "  hello() { this.emit('said', 'a', 'b'); }",
        // The one deliberate error: proves the check runs and still types the arguments.
        "  wrong() { this.emit('said', 'a', 1); }",
        '}',
      ].join('\n'),
    );
    assert.deepEqual(errors, ["Argument of type 'number' is not assignable to parameter of type 'string'."]);
  });

  it('sends typed events and acks through to the client', async () => {
    const { url } = await startTornadio(Typed, { sessionExpiry: 0 });
    const sock = await connect(url);
    const said = once(sock, 'said');
    sock.on('joined', (count: number, ack: (...reply: unknown[]) => void) => ack(`welcome #${count}`));
    assert.deepEqual(await ask(sock, 'say', 'hello'), ['sent']);
    assert.deepEqual(await said, ['a', 'hello']);
    assert.deepEqual(await acked.wait('the ack of "joined"'), ['welcome #1']);
  });
});
