import { isAbsolute, join } from 'node:path';

import { z } from 'zod';

import { NadaError } from '../errors.ts';
import type { TextEncoder } from './encoder.ts';
import { MclipEncoder } from './mclip-encoder.ts';
import { OnnxEncoder } from './onnx-encoder.ts';
import { SCRIPTS } from './script.ts';

/** One multilingual encoder as the operator lists it (e.g. in a model's `model.json`). */
export const multilingualSpecSchema = z.object({
  id: z.string().min(1),
  /** the model folder, relative to the models directory unless absolute */
  dir: z.string().min(1),
  /** the CLIP model whose space it maps into */
  space: z.string().min(1),
  spaceDim: z.number().int().positive().optional(),
  /** 'tfjs' runs the safetensors weights; 'onnx' runs onnx/model.onnx with onnxruntime */
  runtime: z.enum(['tfjs', 'onnx']).default('tfjs'),
  languages: z.union([z.literal('any'), z.array(z.string().min(2))]).default('any'),
  scripts: z.union([z.literal('any'), z.array(z.enum(SCRIPTS))]).default('any'),
  executionProviders: z.array(z.string()).optional(),
});

export type MultilingualSpec = z.input<typeof multilingualSpecSchema>;

/**
 * Loads the listed multilingual encoders, in order (earlier ones are preferred by the
 * routing). A bad entry is `encoder.spec_invalid`, naming it.
 *
 * @example
 * await loadMultilingualEncoders([{ id: 'mclip-xlmr-b32', dir: 'M-CLIP-XLM-R-L-B32', space: 'ViT-B/32' }], modelsDir());
 */
export async function loadMultilingualEncoders(
  specs: MultilingualSpec[],
  modelsDir: string,
): Promise<TextEncoder[]> {
  const out: TextEncoder[] = [];
  for (const [i, raw] of specs.entries()) {
    const parsed = multilingualSpecSchema.safeParse(raw);
    if (!parsed.success) {
      throw new NadaError(
        'encoder.spec_invalid',
        `text encoder entry ${i} is not valid: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`,
        { index: i },
      );
    }
    const spec = parsed.data;
    const dir = isAbsolute(spec.dir) ? spec.dir : join(modelsDir, spec.dir);
    const load = spec.runtime === 'onnx' ? OnnxEncoder.load : MclipEncoder.load;
    out.push(await load(dir, spec));
  }
  return out;
}
