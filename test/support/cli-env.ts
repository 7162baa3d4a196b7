/** The environment for `mojo` child processes in tests: quiet logs, no debug stacks, no inherited PORT or test-runner context. */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MOJO_LOG: 'warn' };
  delete env.MOJO_DEBUG;
  delete env.NODE_TEST_CONTEXT;
  delete env.PORT;
  return env;
}
