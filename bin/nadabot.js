#!/usr/bin/env node
// nadabot's command line. nadabot is written in TypeScript and run without a build step:
// register tsx's loader, then hand over to the CLI.
/* global URL */
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
