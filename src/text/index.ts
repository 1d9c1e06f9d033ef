export { ClipTextEncoder, type ClipEncoderOptions } from './clip-encoder.ts';
export { ClipOnnxTextEncoder, exportClipTextOnnx } from './clip-onnx.ts';
export {
  CLIP_SPACE_DIMS,
  checkDim,
  hashFiles,
  serves,
  spaceDim,
  type TextEncoder,
} from './encoder.ts';
export { ENGLISH_LIST_PATH, englishLexicon, loadEnglishList } from './english-list.ts';
export { HfTokenizer, normaliserStripsMarks, type TokenBatch } from './hf-tokenizer.ts';
export { guessLanguage, type LanguageGuess } from './language.ts';
export { MclipEncoder, type MultilingualLoadOptions } from './mclip-encoder.ts';
export { readEncoderFolder, type EncoderFolder } from './model-folder.ts';
export {
  DEFAULT_MAX_PROMPT_CHARS,
  markLosses,
  normalisePrompt,
  stripMarks,
  type MarkLoss,
  type NormaliseOptions,
  type NormalisedText,
} from './normalise.ts';
export { OnnxEncoder, type OnnxLoadOptions } from './onnx-encoder.ts';
export {
  analyseText,
  encodeRouted,
  explainRouting,
  languageName,
  routePrompt,
  type EncodedSpace,
  type RouteRequest,
  type RoutingRecord,
  type RunClipModel,
  type SpaceRoute,
  type TextAnalysis,
} from './routing.ts';
export { SCRIPTS, detectScripts, scriptsOf, type Script, type ScriptProfile } from './script.ts';
export { defaultSourceText } from './source-text.ts';
export { writeTinyEncoder, type TinyEncoderSpec } from './tiny-encoder.ts';
export {
  UnderstoodAsIndex,
  understoodAs,
  type SpaceUnderstanding,
  type UnderstoodAsOptions,
  type UnderstoodEntry,
} from './understood-as.ts';
export {
  loadMultilingualEncoders,
  multilingualSpecSchema,
  type MultilingualSpec,
} from './registry.ts';
