import { describeNadaTrainGolden } from './helpers/nada-train-golden.ts';

// The backend the suite and the demo use when native TensorFlow is missing.
describeNadaTrainGolden('wasm');
