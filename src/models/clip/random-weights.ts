import type { RawTensor } from '../weights/safetensors.ts';
import type { ClipConfig } from './config.ts';
import { openAiShapes } from './weight-names.ts';

/**
 * A seeded random CLIP state dict under OpenAI names, following `CLIP.initialize_parameters`
 * (normal draws with the same standard deviations; LayerNorm 1/0, biases 0). The patch conv,
 * which PyTorch initialises uniformly, gets a normal draw of the same variance instead.
 */
export function randomClipTensors(c: ClipConfig, seed: number): Map<string, RawTensor> {
  const normal = gaussian(seed);
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of openAiShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const std = initStd(key, shape, c);
    if (key === 'logit_scale') data[0] = Math.log(1 / 0.07);
    else if (/(^|\.)ln_\w+\.weight$/.test(key)) data.fill(1);
    else if (std > 0) for (let i = 0; i < data.length; i++) data[i] = std * normal();
    out.set(key, { dtype: 'F32', shape, data });
  }
  return out;
}

// Standard deviation of a key's normal init; 0 means zeros (biases, LayerNorm shifts).
function initStd(key: string, shape: number[], c: ClipConfig): number {
  const visual = key.startsWith('visual.');
  const w = visual ? c.visionWidth : c.textWidth;
  const layers = visual ? c.visionLayers : c.textLayers;
  const attnStd = w ** -0.5;
  const projStd = attnStd * (2 * layers) ** -0.5;

  if (key === 'token_embedding.weight') return 0.02;
  if (key === 'positional_embedding') return 0.01;
  if (key === 'text_projection') return c.textWidth ** -0.5;
  if (/^visual\.(class_embedding|positional_embedding|proj)$/.test(key)) return w ** -0.5;
  if (key === 'visual.conv1.weight') return (shape[1] * shape[2] * shape[3]) ** -0.5 / Math.sqrt(3);
  if (key.endsWith('attn.in_proj_weight')) return attnStd;
  if (key.endsWith('attn.out_proj.weight')) return projStd;
  if (key.endsWith('mlp.c_fc.weight')) return (2 * w) ** -0.5;
  if (key.endsWith('mlp.c_proj.weight')) return projStd;
  return 0;
}

/** Standard normal draws from a seeded mulberry32 stream (Box–Muller). */
export function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
