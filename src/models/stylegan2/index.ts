export {
  configF,
  inferConfig,
  nLatentOf,
  noiseResolution,
  numLayersOf,
  standardChannels,
  type StyleGan2Config,
} from './config.ts';
export { StyleGan2Generator, type ForwardOptions, type NoiseInput } from './generator.ts';
export { expectedShapes, synthesisModules, type ModuleName } from './param-names.ts';
export type { SynthesisHooks } from './styled-layers.ts';
