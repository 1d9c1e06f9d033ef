export * from './connection.ts';
export * from './events.ts';
export * from './job-schema.ts';
export * from './producer.ts';
export * from './progress.ts';
export * from './queue.ts';
