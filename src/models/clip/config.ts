import { z } from 'zod';

import { NadaError } from '../../errors.ts';

/** Shape of an OpenAI CLIP ViT model. Head counts are given, never inferred from weights. */
export interface ClipConfig {
  embedDim: number;
  imageResolution: number;
  visionPatchSize: number;
  visionWidth: number;
  visionLayers: number;
  visionHeads: number;
  contextLength: number;
  vocabSize: number;
  textWidth: number;
  textLayers: number;
  textHeads: number;
}

const TEXT_B: Pick<ClipConfig, 'contextLength' | 'vocabSize' | 'textWidth'> & {
  textLayers: number;
  textHeads: number;
} = { contextLength: 77, vocabSize: 49408, textWidth: 512, textLayers: 12, textHeads: 8 };

/**
 * The two models NADA uses, as released by OpenAI, and the tiny model of the golden tests
 * (test/fixtures/golden/clip/config.json: 4 vision heads although its width is 64).
 */
export const CLIP_CONFIGS: Record<'ViT-B/32' | 'ViT-B/16' | 'tiny', ClipConfig> = {
  'ViT-B/32': {
    embedDim: 512,
    imageResolution: 224,
    visionPatchSize: 32,
    visionWidth: 768,
    visionLayers: 12,
    visionHeads: 12,
    ...TEXT_B,
  },
  'ViT-B/16': {
    embedDim: 512,
    imageResolution: 224,
    visionPatchSize: 16,
    visionWidth: 768,
    visionLayers: 12,
    visionHeads: 12,
    ...TEXT_B,
  },
  tiny: {
    embedDim: 48,
    imageResolution: 32,
    visionPatchSize: 8,
    visionWidth: 64,
    visionLayers: 2,
    visionHeads: 4,
    contextLength: 77,
    vocabSize: 49408,
    textWidth: 32,
    textLayers: 2,
    textHeads: 4,
  },
};

const positive = z.number().int().positive();

// OpenAI's build_model() argument names (test/fixtures/golden/clip/config.json "openai").
const openAiSchema = z.object({
  embed_dim: positive,
  image_resolution: positive,
  vision_layers: positive,
  vision_width: positive,
  vision_patch_size: positive,
  vision_heads: positive.optional(),
  context_length: positive,
  vocab_size: positive,
  transformer_width: positive,
  transformer_heads: positive,
  transformer_layers: positive,
});

// Hugging Face CLIPConfig (config.json of a CLIPModel repository).
const hfSchema = z.object({
  projection_dim: positive,
  text_config: z.object({
    vocab_size: positive,
    hidden_size: positive,
    num_hidden_layers: positive,
    num_attention_heads: positive,
    max_position_embeddings: positive,
  }),
  vision_config: z.object({
    hidden_size: positive,
    num_hidden_layers: positive,
    num_attention_heads: positive,
    image_size: positive,
    patch_size: positive,
  }),
});

/**
 * Reads a CLIP config from JSON in OpenAI's `build_model` names or Hugging Face's
 * `CLIPConfig` layout (a `{ openai, hf }` wrapper like the golden config.json works too).
 *
 * @example
 * clipConfigFromJson(JSON.parse(readFileSync('config.json', 'utf8'))).visionHeads; // 4
 */
export function clipConfigFromJson(json: unknown): ClipConfig {
  const obj = (json ?? {}) as Record<string, unknown>;
  if (obj.openai !== undefined) return clipConfigFromJson(obj.openai);
  if (obj.hf !== undefined) return clipConfigFromJson(obj.hf);

  const openai = openAiSchema.safeParse(obj);
  if (openai.success) return fromOpenAi(openai.data);
  const hf = hfSchema.safeParse(obj);
  if (hf.success) return fromHf(hf.data);

  throw new NadaError(
    'config.invalid',
    'CLIP config is neither OpenAI build_model fields (embed_dim, vision_width, …) ' +
      `nor a Hugging Face CLIPConfig: ${openai.error.issues[0]?.path.join('.')} ` +
      `${openai.error.issues[0]?.message}`,
    { keys: Object.keys(obj) },
  );
}

function fromOpenAi(c: z.infer<typeof openAiSchema>): ClipConfig {
  return {
    embedDim: c.embed_dim,
    imageResolution: c.image_resolution,
    visionPatchSize: c.vision_patch_size,
    visionWidth: c.vision_width,
    visionLayers: c.vision_layers,
    // build_model() uses width / 64 heads when nothing says otherwise.
    visionHeads: c.vision_heads ?? c.vision_width / 64,
    contextLength: c.context_length,
    vocabSize: c.vocab_size,
    textWidth: c.transformer_width,
    textLayers: c.transformer_layers,
    textHeads: c.transformer_heads,
  };
}

function fromHf(c: z.infer<typeof hfSchema>): ClipConfig {
  return {
    embedDim: c.projection_dim,
    imageResolution: c.vision_config.image_size,
    visionPatchSize: c.vision_config.patch_size,
    visionWidth: c.vision_config.hidden_size,
    visionLayers: c.vision_config.num_hidden_layers,
    visionHeads: c.vision_config.num_attention_heads,
    contextLength: c.text_config.max_position_embeddings,
    vocabSize: c.text_config.vocab_size,
    textWidth: c.text_config.hidden_size,
    textLayers: c.text_config.num_hidden_layers,
    textHeads: c.text_config.num_attention_heads,
  };
}

/** Number of image patches plus the class token. */
export function visionTokens(config: ClipConfig): number {
  return (config.imageResolution / config.visionPatchSize) ** 2 + 1;
}

/** Rejects a config whose widths do not split into its heads or whose image into patches. */
export function checkClipConfig(c: ClipConfig): void {
  const problems = [
    c.visionWidth % c.visionHeads !== 0 && `vision width ${c.visionWidth} / ${c.visionHeads} heads`,
    c.textWidth % c.textHeads !== 0 && `text width ${c.textWidth} / ${c.textHeads} heads`,
    c.imageResolution % c.visionPatchSize !== 0 &&
      `resolution ${c.imageResolution} / patch ${c.visionPatchSize}`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new NadaError('config.invalid', `CLIP config does not divide: ${problems.join(', ')}`, {
      config: c,
    });
  }
}
