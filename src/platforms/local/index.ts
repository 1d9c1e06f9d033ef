export * from './local-chat.ts';
export * from './local-history.ts';
export * from './local-platform.ts';
export * from './server.ts';
