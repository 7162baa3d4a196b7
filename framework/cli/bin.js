#!/usr/bin/env node
// The `mojo` command. Projects are TypeScript, so the CLI runs with tsx's loader registered.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
