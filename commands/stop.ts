import { defineCommand } from './command-schema.ts';

/** `/stop`: stops the run of the thread it is typed in (a waiting one leaves the queue). */
export const stopCommand = defineCommand({
  name: 'stop',
  description: 'Stop the adaptation run of this thread; it keeps a checkpoint',
  options: [],
});
