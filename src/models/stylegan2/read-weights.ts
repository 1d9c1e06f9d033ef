import { readSafetensors, type RawTensor } from '../weights/safetensors.ts';
import { extractStateDict, loadTorchCheckpoint } from '../weights/torch-checkpoint.ts';

/**
 * Reads a generator state dict: `.safetensors` as is, anything else as a PyTorch checkpoint
 * (zip or legacy) whose `g_ema` entry is taken (a bare state dict is accepted too).
 */
export async function readGeneratorTensors(path: string): Promise<Map<string, RawTensor>> {
  if (path.endsWith('.safetensors')) return readSafetensors(path).tensors;
  const checkpoint = await loadTorchCheckpoint(path);
  return extractStateDict(checkpoint, 'g_ema', path);
}
