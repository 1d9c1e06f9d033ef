export { mclipConfigFrom, type MclipArchitecture, type MclipConfig } from './config.ts';
export {
  MclipTextModel,
  stripTransformerPrefix,
  type HeadTensors,
  type MclipOutput,
} from './mclip-model.ts';
export { exportMclipOnnx, MCLIP_ONNX_OPSET, type MclipOnnxOptions } from './onnx-export.ts';
export { FLOAT, INT64, OnnxGraph, ONNX_OPSET, type RawLinear } from './onnx-graph.ts';
