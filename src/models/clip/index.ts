export { ClipModel, type ClipTaps } from './clip-model.ts';
export {
  CLIP_CONFIGS,
  checkClipConfig,
  clipConfigFromJson,
  visionTokens,
  type ClipConfig,
} from './config.ts';
export {
  CLIP_MEAN,
  CLIP_STD,
  bicubicMatrix,
  bicubicResize,
  centerCrop,
  nadaPreprocess,
  resizedShape,
} from './preprocess.ts';
export { cleanText } from './text-cleaning.ts';
export { ClipTokenizer, EOT_TOKEN, SOT_TOKEN, type TokenizeOptions } from './tokenizer.ts';
