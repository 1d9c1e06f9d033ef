import { describeGeneratorProbe } from './helpers/generator-probe-golden.ts';

// The backend the suite and the demo use when native TensorFlow is missing.
describeGeneratorProbe('wasm');
