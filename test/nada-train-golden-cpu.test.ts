import { describeNadaTrainGolden } from './helpers/nada-train-golden.ts';

// The pure-JS backend, with nadabot's convolution filter gradient and slice kernels.
describeNadaTrainGolden('cpu');
