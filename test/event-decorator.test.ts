import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketConnection, event } from 'mojo-ts';
import { bindArguments, eventTable, parameterNames } from '../framework/realtime/event.ts';

class Base extends SocketConnection {
  @event hello(name: string) {
    return `hello ${name}`;
  }
  @event('rename-me') original() {
    return 'base';
  }
  @event('slow', { concurrent: true }) slow() {}
}

class Child extends Base {
  // Overridden without repeating @event: still the handler of "hello".
  hello(name: string) {
    return `child ${super.hello(name)}`;
  }
  @event('other') original() {
    return 'child';
  }
}

describe('@event', () => {
  it('names a bare handler after its method and a named one after its argument', () => {
    const table = eventTable(Base);
    assert.deepEqual([...table.keys()].sort(), ['hello', 'rename-me', 'slow']);
    assert.equal(table.get('slow')!.concurrent, true);
    assert.equal(table.get('hello')!.concurrent, false);
  });

  it('keeps a parent handler when a subclass overrides the method without @event', () => {
    const handler = eventTable(Child).get('hello')!;
    assert.equal(handler.method.call(Object.create(Child.prototype), 'Ada'), 'child hello Ada');
  });

  it('lets a subclass re-decorate a method under another event name', () => {
    const table = eventTable(Child);
    assert.equal(table.has('other'), true);
    assert.equal(table.has('rename-me'), false);
  });

  it('rejects an empty event name at class definition', () => {
    assert.throws(() => event(''), /non-empty string/);
  });
});

describe('the kwargs rule', () => {
  const handler = { name: 'greet', concurrent: false, method: () => undefined, ...parameterNames(function greet(name: string, title = 'Dr') { return [name, title]; }) };

  it('reads parameter names from the source, defaults included', () => {
    assert.deepEqual(parameterNames(function f(a: number, { b }: { b: number }, ...rest: number[]) { return [a, b, rest]; }), { params: ['a', null, 'rest'], rest: true });
    assert.deepEqual(handler.params, ['name', 'title']);
  });

  it('passes one plain object by parameter name when its keys are parameters', () => {
    assert.deepEqual(bindArguments(handler, [{ name: 'Joes' }], { name: 'Joes' }), ['Joes', undefined]);
    assert.deepEqual(bindArguments(handler, [{ title: 'Mx', name: 'Joes' }], { title: 'Mx', name: 'Joes' }), ['Joes', 'Mx']);
  });

  it('passes the object itself when a key is not a parameter', () => {
    const patch = { colour: 'red' };
    assert.deepEqual(bindArguments(handler, [patch], patch), [patch]);
  });

  it('refuses more arguments than parameters, naming them', () => {
    assert.throws(() => bindArguments(handler, ['a', 'b', 'c'], undefined), /"greet" takes 2 arguments \(name, title\), got 3/);
  });
});
