export { ClipModel, type ClipTaps } from './clip-model.ts';
export {
  CLIP_CONFIGS,
  checkClipConfig,
  clipConfigFromJson,
  visionTokens,
  type ClipConfig,
} from './config.ts';
