import { describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { mclipConfigFrom } from '../src/models/mclip/config.ts';
import type { RawTensor } from '../src/models/weights/safetensors.ts';

// The public Multilingual-CLIP releases ship a config.json that names only the base model
// (model_type "M-CLIP", modelBase, transformerDimSize, imageDimSize) and no transformer
// config. Sizes then come from the weights' shapes and the head count from the base's name.
// mclipConfigFrom reads shapes only, so the tensors here are shapes over empty data.

/** A tensor of the given shape with no data behind it. */
const shape = (...dims: number[]): RawTensor => ({
  dtype: 'F32',
  shape: dims,
  data: new Float32Array(0),
});

/** The weight names and shapes of a BERT-family encoder with `layers` layers. */
function encoderWeights(opts: {
  vocab: number;
  hidden: number;
  layers: number;
  ffn: number;
  positions: number;
  types: number;
}): Map<string, RawTensor> {
  const w = new Map<string, RawTensor>([
    ['embeddings.word_embeddings.weight', shape(opts.vocab, opts.hidden)],
    ['embeddings.position_embeddings.weight', shape(opts.positions, opts.hidden)],
    ['embeddings.token_type_embeddings.weight', shape(opts.types, opts.hidden)],
  ]);
  for (let i = 0; i < opts.layers; i++) {
    w.set(`encoder.layer.${i}.attention.self.query.weight`, shape(opts.hidden, opts.hidden));
    w.set(`encoder.layer.${i}.intermediate.dense.weight`, shape(opts.ffn, opts.hidden));
  }
  return w;
}

/** A two-layer, 48-wide encoder's weights. */
const smallEncoder = () =>
  encoderWeights({ vocab: 100, hidden: 48, layers: 2, ffn: 96, positions: 40, types: 1 });

describe('GIVEN the config.json of a Multilingual-CLIP release', () => {
  it('WHEN it names xlm-roberta-large THEN sizes come from the weights and 16 heads from the name', () => {
    const json = {
      architectures: ['MultilingualCLIP'],
      model_type: 'M-CLIP',
      modelBase: 'xlm-roberta-large',
      transformerDimSize: 1024,
      imageDimSize: 768,
    };
    const weights = encoderWeights({
      vocab: 250002,
      hidden: 1024,
      layers: 24,
      ffn: 4096,
      positions: 514,
      types: 1,
    });
    const config = mclipConfigFrom(json, weights, {
      weight: shape(768, 1024),
      bias: shape(768),
    });
    expect(config).toEqual({
      architecture: 'xlm-roberta',
      vocabSize: 250002,
      hidden: 1024,
      layers: 24,
      heads: 16,
      ffn: 4096,
      maxPositions: 514,
      typeVocab: 1,
      padId: 1,
      layerNormEps: 1e-5,
      outDim: 768,
      headBias: true,
    });
  });

  it('WHEN it names a base with no known head count THEN asks for num_attention_heads', () => {
    const json = { model_type: 'M-CLIP', modelBase: 'xlm-roberta-huge-2030' };
    const weights = smallEncoder();
    let caught: unknown;
    try {
      mclipConfigFrom(json, weights, { weight: shape(16, 48) });
    } catch (err) {
      caught = err;
    }
    expect(isNadaError(caught, 'encoder.config_incomplete')).toBe(true);
    expect((caught as Error).message).toContain('num_attention_heads');
  });

  it('WHEN the merged base config gives a head count THEN that count wins over the name', () => {
    const json = { model_type: 'M-CLIP', modelBase: 'xlm-roberta-large', num_attention_heads: 4 };
    const weights = smallEncoder();
    const config = mclipConfigFrom(json, weights, { weight: shape(16, 48) });
    expect(config.heads).toBe(4);
    expect(config.layers).toBe(2);
    expect(config.headBias).toBe(false);
  });
});
