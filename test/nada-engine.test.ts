import { describeRunAdaptation } from './helpers/nada-engine-suite.ts';

// The backend the suite and the demo use when native TensorFlow is missing.
describeRunAdaptation('wasm');
