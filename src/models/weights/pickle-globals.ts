import { NadaError } from '../../errors.ts';
import { STORAGE_TYPE_NAMES, StorageType, TensorRef, TorchStorage } from './torch-objects.ts';

/** A callable global from the allow-list; REDUCE calls `call`, NEWOBJ calls `construct`. */
export interface SafeGlobal {
  name: string;
  call?: (args: unknown[]) => unknown;
  construct?: (args: unknown[]) => unknown;
}

/** A plain dict: keys as strings, no prototype (so no key can reach Object.prototype). */
export function newDict(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

/** Records that unpickle from `argparse.Namespace`: attributes only, nothing runs. */
export class NamespaceRecord {
  readonly attributes: Record<string, unknown> = newDict();
}

function rebuildTensor(args: unknown[], name: string): TensorRef {
  const [storage, offset, size, stride] = args;
  const ints = (v: unknown) => Array.isArray(v) && v.every((d) => Number.isInteger(d));
  if (
    !(storage instanceof TorchStorage) ||
    !Number.isInteger(offset) ||
    !ints(size) ||
    !ints(stride)
  ) {
    throw new NadaError('weights.corrupt', `${name} got arguments that do not describe a tensor`);
  }
  return new TensorRef(storage, offset as number, size as number[], stride as number[]);
}

const ALLOWED: SafeGlobal[] = [
  {
    name: 'torch._utils._rebuild_tensor_v2',
    call: (args) => rebuildTensor(args, 'torch._utils._rebuild_tensor_v2'),
  },
  {
    name: 'torch._utils._rebuild_tensor',
    call: (args) => rebuildTensor(args, 'torch._utils._rebuild_tensor'),
  },
  {
    // (data, requires_grad, backward_hooks): a Parameter is its tensor here
    name: 'torch._utils._rebuild_parameter',
    call: (args) => args[0],
  },
  {
    // OrderedDict() or OrderedDict([(k, v), …])
    name: 'collections.OrderedDict',
    call: (args) => {
      const dict = newDict();
      const pairs = args[0];
      if (Array.isArray(pairs)) for (const [k, v] of pairs as unknown[][]) dict[String(k)] = v;
      return dict;
    },
  },
  {
    // only as an inert record: NEWOBJ makes an empty one, BUILD fills its attributes
    name: 'argparse.Namespace',
    construct: () => new NamespaceRecord(),
  },
];

const ALLOWED_BY_NAME = new Map<string, unknown>(ALLOWED.map((g) => [g.name, g]));
for (const type of STORAGE_TYPE_NAMES) {
  ALLOWED_BY_NAME.set(`torch.${type}`, new StorageType(type));
}

/**
 * Resolves a pickle GLOBAL against the allow-list. Anything else (os.system, builtins.eval, …)
 * is refused here, before the pickle machine goes one opcode further.
 */
export function resolveGlobal(module: string, name: string, source: string): unknown {
  const full = `${module}.${name}`;
  const found = ALLOWED_BY_NAME.get(full);
  if (found === undefined) {
    throw new NadaError(
      'weights.unsafe_pickle',
      `${source} asks to load "${full}", which is not a tensor-rebuild global: ` +
        'refusing to read it; only use checkpoints from a source you trust, ' +
        'or convert them to safetensors',
      { source, global: full },
    );
  }
  return found;
}

/** The allow-list, for documentation and tests. */
export function allowedGlobals(): string[] {
  return [...ALLOWED_BY_NAME.keys()];
}
