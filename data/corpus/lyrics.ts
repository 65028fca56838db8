/**
 * Song lyrics from a small grammar. Every word is plain ASCII letters (and an apostrophe), so the
 * lyrics survive both label editions' vocabularies unchanged; lines are capitalised and separated
 * by newlines, which both vocabularies keep.
 */
import type { Rng } from '../../src/rng';

const NOUNS = [
  'river', 'lantern', 'morning', 'garden', 'mountain', 'window', 'shadow', 'harbor', 'city', 'candle',
  'ocean', 'meadow', 'engine', 'mirror', 'feather', 'thunder', 'silver', 'highway', 'valley', 'letter',
  'summer', 'winter', 'island', 'railroad', 'kingdom', 'compass', 'ribbon', 'orchard', 'signal', 'canyon',
  'heart', 'road', 'moon', 'sky', 'fire', 'rain', 'star', 'song', 'door', 'light',
];
const ADJECTIVES = [
  'golden', 'quiet', 'broken', 'electric', 'hollow', 'endless', 'crimson', 'gentle', 'restless', 'distant',
  'bright', 'cold', 'wild', 'slow', 'blue', 'old', 'lonely', 'burning', 'open', 'silent',
];
const VERBS = ['follow', 'carry', 'remember', 'chase', 'answer', 'gather', 'wander', 'hold', 'find', 'call', 'keep', 'light', 'burn', 'lose', 'hear', 'leave'];
const PREPOSITIONS = ['under', 'over', 'beyond', 'across', 'beside', 'into', 'along', 'through'];
const SUBJECTS = ['I', 'we', 'you', 'they'];
const ADVERBS = ['tonight', 'again', 'forever', 'somehow', 'slowly', 'today', 'alone', 'away'];
const EXCLAMATIONS = ['oh', 'hey', 'yeah'];

type Part = () => string;

function pick(rng: Rng, list: readonly string[]): string {
  return list[rng.int(list.length)];
}

/** Templates of one line; each produces 5–7 words. */
function templates(rng: Rng): Part[][] {
  const n = () => pick(rng, NOUNS);
  const a = () => pick(rng, ADJECTIVES);
  const v = () => pick(rng, VERBS);
  const p = () => pick(rng, PREPOSITIONS);
  const s = () => pick(rng, SUBJECTS);
  const d = () => pick(rng, ADVERBS);
  const e = () => pick(rng, EXCLAMATIONS);
  const w = (word: string) => () => word;
  return [
    [s, v, w('the'), a, n],
    [s, v, w('the'), n, p, w('the'), n],
    [w('the'), a, n, p, w('the'), n],
    [e, a, n, v, w('me'), d],
    [s, w("won't"), v, w('the'), n, d],
    [a, n, w('and'), a, n],
    [p, w('the'), a, n, s, v, d],
    [e, e, w('the'), n, w('is'), a],
  ];
}

/** One lyric line as words, the first capitalised. */
export function lyricLine(rng: Rng): string[] {
  const all = templates(rng);
  const words = all[rng.int(all.length)].map((part) => part());
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return words;
}

/** Counts a word's syllables (vowel groups, a silent final e dropped): enough to size its note. */
export function syllables(word: string): number {
  const w = word.toLowerCase().replace(/[^a-z]/g, '').replace(/e$/, '');
  return Math.max(1, (w.match(/[aeiouy]+/g) ?? []).length);
}
