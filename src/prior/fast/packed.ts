import { Arena, roundUp } from './arena';

/** Output columns per panel of a packed weight (four f32x4 accumulators per row). */
export const PANEL = 16;

/**
 * A dense layer `x @ W + b` (the transformer's Conv1D, or the output head with a zero bias)
 * packed for the `matmul` kernel in one arena.
 *
 * Packing: W `[nIn, nOut]` is cut into ⌈nOut / 16⌉ panels of 16 output columns, each stored as
 * `nIn` rows of 16 floats back to back (zero past nOut). A matrix-vector product then reads the
 * weights exactly once, front to back, 64 bytes per input element, which is what a product bound
 * by memory bandwidth wants; a row-major W would stride across the whole matrix per output group.
 * The bias is padded to whole panels with zeros, so padded outputs are 0 and rows of every
 * activation buffer can use the padded width as their stride.
 */
export class PackedLinear {
  readonly w: number;
  readonly b: number;
  readonly panels: number;
  /** Floats per output row: nOut padded to whole panels. */
  readonly outWidth: number;

  /**
   * @param weight row-major `[nIn, nOut]` (or, with `transposed`, `[nOut, nIn]`, the layout of
   *   the output head's embedding matrix)
   * @param bias `[nOut]`, or null for none
   */
  constructor(
    readonly arena: Arena,
    weight: Float32Array,
    bias: Float32Array | null,
    readonly nIn: number,
    readonly nOut: number,
    transposed = false,
  ) {
    this.panels = Math.ceil(nOut / PANEL);
    this.outWidth = this.panels * PANEL;
    this.w = arena.alloc(this.panels * nIn * PANEL);
    this.b = arena.alloc(this.outWidth);
    const mem = arena.f32;
    for (let p = 0; p < this.panels; p++) {
      const cols = Math.min(PANEL, nOut - p * PANEL);
      let at = this.w / 4 + p * nIn * PANEL;
      for (let k = 0; k < nIn; k++, at += PANEL) {
        for (let c = 0; c < cols; c++) {
          const col = p * PANEL + c;
          mem[at + c] = transposed ? weight[col * nIn + k] : weight[k * nOut + col];
        }
      }
    }
    if (bias !== null) mem.set(bias, this.b / 4);
  }

  /** Bytes the packed weight and bias take in an arena. */
  static bytes(nIn: number, nOut: number): number {
    const panels = Math.ceil(nOut / PANEL);
    return roundUp(panels * nIn * PANEL * 4, 64) + roundUp(panels * PANEL * 4, 64);
  }

  /**
   * y[i] = x[i] @ W + b for `m` rows: x at byte offset `x` with row stride `xStride` floats, y at
   * `y` with row stride `yStride` floats (at least `outWidth`).
   */
  apply(x: number, xStride: number, y: number, yStride: number, m: number): void {
    this.arena.matmul(this.w, this.b, x, xStride * 4, y, yStride * 4, this.nIn, this.panels, m);
  }
}
