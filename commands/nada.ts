import { MAX_PROMPT_CHARS } from '../src/jobs/job-schema.ts';
import { defineCommand } from './command-schema.ts';

/**
 * `/nada <prompt> [source] [steps] [seed]`: adapt the generator toward the prompt and post
 * the images as they change. In text form (the local chat, or a typed message):
 * `/nada 日本人女性 --source photo --steps 40 --seed 7`.
 */
export const nadaCommand = defineCommand({
  name: 'nada',
  description: 'Adapt the face generator toward a text, in any language, and watch it change',
  options: [
    {
      name: 'prompt',
      description: 'what the faces should become, e.g. 日本人女性 or bronze statue',
      type: 'string',
      required: true,
      maxLength: MAX_PROMPT_CHARS,
    },
    {
      name: 'source',
      description: 'what the images are now (default: photo)',
      type: 'string',
      required: false,
      maxLength: MAX_PROMPT_CHARS,
    },
    {
      name: 'steps',
      description: 'training steps (more steps, stronger change)',
      type: 'integer',
      required: false,
      minValue: 1,
      maxValue: 100_000,
    },
    {
      name: 'seed',
      description: 'seed for the sample faces and training draws',
      type: 'integer',
      required: false,
      minValue: 0,
      maxValue: 2 ** 31 - 1,
    },
  ],
});
