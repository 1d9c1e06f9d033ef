import { describeRunAdaptation } from './helpers/nada-engine-suite.ts';

// The pure-JS backend: resume, continue and cancel give the same weights there too.
describeRunAdaptation('cpu');
