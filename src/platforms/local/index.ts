export * from './local-platform.ts';
export * from './server.ts';
