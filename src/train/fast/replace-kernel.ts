import * as tf from '@tensorflow/tfjs';

/**
 * Puts `wrap(original)` in place of `kernelName`'s kernel on `backendName` for the rest of the
 * process. The wrapper handles the cases it is written for and hands every other call to the
 * original, so a replacement never narrows what the kernel accepts. Where the backend has no
 * such kernel, nothing changes.
 */
export function replaceKernel(kernelName: string, backendName: string, wrap: (original: tf.KernelConfig) => tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, backendName);
  if (original === undefined) return;
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ ...original, kernelFunc: wrap(original) });
}
