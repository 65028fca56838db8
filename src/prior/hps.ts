import { JukeboxError } from '../errors';
import { PRIOR_CONFIG_KEYS, PriorConfig, validatePriorConfig } from './config';

/**
 * A reference checkpoint's `hps` (the whole training hyperparameter dict, `save_checkpoint` in
 * make_models.py) ↔ PriorConfig. The dict arrives from the restricted unpickler as a Map (Python
 * ints as numbers or bigints, tuples as arrays, None as null) or from safetensors metadata as JSON.
 * Fields the config does not hold (learning rates, paths, ...) are ignored; fields the dict lacks
 * take the reference's defaults.
 */

function lookup(hps: unknown, key: string): unknown {
  if (hps instanceof Map) return hps.get(key);
  return (hps as Record<string, unknown>)[key];
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/** Reference fields whose presence would change the model in a way this toolkit does not build. */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  copy_input: (v) => v === true,
  y_cond_as_bias: (v) => v === true,
  cond_levels: (v) => v !== null && v !== undefined,
};

/**
 * Turns a reference `hps` dict into a validated PriorConfig. `file` names the checkpoint in errors.
 */
export function priorConfigFromHps(hps: unknown, file: string): PriorConfig {
  if (hps === null || typeof hps !== 'object' || Array.isArray(hps)) {
    throw new JukeboxError(`the 'hps' entry is not a dict`, file);
  }
  for (const [key, isSet] of Object.entries(UNSUPPORTED)) {
    const v = plain(lookup(hps, key));
    if (isSet(v)) throw new JukeboxError(`hps ${key}=${JSON.stringify(v)} is not supported`, file);
  }
  const partial: Record<string, unknown> = {};
  for (const key of PRIOR_CONFIG_KEYS) {
    const v = lookup(hps, key);
    if (v === undefined) continue;
    // The reference's "unset" values: y_bins=0 and None for the optional fields.
    if (key === 'y_bins' && (v === 0 || v === 0n)) continue;
    partial[key] = plain(v);
  }
  if (partial.cond_c_res !== undefined) partial.cond_c_res = Number(partial.cond_c_res);
  return validatePriorConfig(partial as Partial<PriorConfig>, file);
}

/** The config as a reference `hps` dict (JSON-ready), for safetensors metadata and Python readers. */
export function hpsFromPriorConfig(config: PriorConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of PRIOR_CONFIG_KEYS) out[key] = structuredClone(config[key]);
  return out;
}
