import {
  slice_util,
  util,
  type KernelBackend,
  type SliceAttrs,
  type TensorInfo,
  type TypedArray,
} from '@tensorflow/tfjs-core';

/** A slice as runs of contiguous memory: merged shape, begin and size, innermost last. */
export interface SlicePlan {
  shape: number[];
  begin: number[];
  size: number[];
}

/**
 * Merges each axis into the next inner one whenever the inner one is taken whole, so that a
 * slice of [2, 32, 2, 32, 2, 3] keeping index 0 of the size-2 axes becomes a rank-4 walk over
 * rows of 3. Axes of size 1 always merge.
 */
export function planSlice(shape: number[], begin: number[], size: number[]): SlicePlan {
  const rank = shape.length;
  const plan: SlicePlan = {
    shape: [shape[rank - 1]],
    begin: [begin[rank - 1]],
    size: [size[rank - 1]],
  };
  for (let i = rank - 2; i >= 0; i--) {
    const whole = plan.begin[0] === 0 && plan.size[0] === plan.shape[0];
    if (whole) {
      plan.begin[0] += begin[i] * plan.shape[0];
      plan.size[0] *= size[i];
      plan.shape[0] *= shape[i];
    } else {
      plan.shape.unshift(shape[i]);
      plan.begin.unshift(begin[i]);
      plan.size.unshift(size[i]);
    }
  }
  return plan;
}

/** Copies the planned slice of `src` (row-major, `plan.shape`) into `dst`. */
export function copySlice(src: TypedArray, dst: TypedArray, plan: SlicePlan): void {
  const rank = plan.shape.length;
  const strides = util.computeStrides(plan.shape);
  const run = plan.size[rank - 1];
  const outer = plan.size.slice(0, -1);
  const index = outer.map(() => 0);
  const count = util.sizeFromShape(outer);
  let out = 0;
  for (let n = 0; n < count; n++) {
    // Offset of this run in the source.
    let from = plan.begin[rank - 1];
    for (let a = 0; a < rank - 1; a++) from += (plan.begin[a] + index[a]) * strides[a];
    if (run >= 32) {
      dst.set(src.subarray(from, from + run), out);
    } else {
      for (let k = 0; k < run; k++) dst[out + k] = src[from + k];
    }
    out += run;
    // Next index, innermost outer axis fastest.
    for (let a = rank - 2; a >= 0 && ++index[a] === outer[a]; a--) index[a] = 0;
  }
}

/** The parts of tfjs's WebAssembly backend that a kernel writing into its heap uses. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
}

/**
 * Slice for the wasm backend, whose own kernel walks element by element above rank 4 (the
 * gradient of a 6-D pad took 80 ms for 6k values): the axes are merged first, then
 * contiguous runs are copied heap to heap. Strings are not handled here.
 */
export function sliceWasm(backend: KernelBackend, x: TensorInfo, attrs: SliceAttrs): TensorInfo {
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  const heap = backend as unknown as WasmHeapBackend;
  const out = heap.makeOutput(size, x.dtype);
  if (util.sizeFromShape(size) === 0) return out;
  // Views after the allocation: growing the heap detaches older ones.
  const src = heap.typedArrayFromHeap(x);
  const dst = heap.typedArrayFromHeap(out);
  copySlice(src, dst, planSlice(x.shape, begin, size));
  return out;
}

/**
 * Slice for the cpu backend, whose own kernel indexes element by element whenever the slice
 * is not one contiguous block (every crop of an NHWC image).
 */
export function sliceCpu(backend: KernelBackend, x: TensorInfo, attrs: SliceAttrs): TensorInfo {
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  const out = util.getTypedArrayFromDType(x.dtype as 'float32', util.sizeFromShape(size));
  if (out.length > 0) {
    const src = backend.readSync(x.dataId) as TypedArray;
    copySlice(src, out, planSlice(x.shape, begin, size));
  }
  return (backend as unknown as CpuBackend).makeTensorInfo(size, x.dtype, out);
}

interface CpuBackend {
  makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo;
}
