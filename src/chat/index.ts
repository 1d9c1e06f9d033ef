export * from './format.ts';
export * as messages from './messages.ts';
export * from './parse-command.ts';
export * from './platform.ts';
export * from './thread-runs.ts';
export * from './validate.ts';
export * from './thread-conversation.ts';
