export { asciiFold } from './ascii-fold';
export { TextProcessor, lyricVocabulary } from './text-processor';
export type { LabelVersion } from './text-processor';
export { ArtistGenreProcessor, normaliseLabelName, closestNames } from './artist-genre';
export {
  readLabelIdTables, parseLabelIdTable, resolveLabelIdTables, labelTablesToMetadata, labelTablesFromMetadata, labelIdFileNames,
  LABEL_IDS_ENV, LABEL_IDS_METADATA_KEY,
} from './id-tables';
export type { LabelIdTables } from './id-tables';
export { Labeller, relevantLyricTokens } from './labeller';
export type { SongMetadata, LabelInfo, BatchLabels, LabellerOptions } from './labeller';
