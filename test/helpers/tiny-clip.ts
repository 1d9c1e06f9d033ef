import type { ClipConfig } from '../../src/models/clip/index.ts';

/**
 * A CLIP of the real architecture small enough to train with in a test: one layer per tower,
 * 16 wide, a 16 px image in 8 px patches, and the real 77-token window and BPE vocabulary.
 * `embedDim` is the size of its shared space.
 */
export function tinyClipConfig(embedDim: number): ClipConfig {
  return {
    embedDim,
    imageResolution: 16,
    visionPatchSize: 8,
    visionWidth: 16,
    visionLayers: 1,
    visionHeads: 2,
    contextLength: 77,
    vocabSize: 49408,
    textWidth: 16,
    textLayers: 1,
    textHeads: 2,
  };
}
