export { mclipConfigFrom, type MclipArchitecture, type MclipConfig } from './config.ts';
export {
  MclipTextModel,
  stripTransformerPrefix,
  type HeadTensors,
  type MclipOutput,
} from './mclip-model.ts';
