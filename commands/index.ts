import { nadaCommand } from './nada.ts';
import { stopCommand } from './stop.ts';

export type { CommandDefinition, CommandOption } from './command-schema.ts';

/** Every slash command, checked when loaded, for the platforms to register. */
export const commands = [nadaCommand, stopCommand];
