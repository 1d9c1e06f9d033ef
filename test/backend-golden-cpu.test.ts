import { describeGeneratorProbe } from './helpers/generator-probe-golden.ts';

// The pure-JS backend, with nadabot's convolution filter gradient and slice kernels.
describeGeneratorProbe('cpu');
