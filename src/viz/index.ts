/**
 * Visualisation: plotly figures of waveforms, spectrograms, codebook usage, code projections and
 * timelines, and metric tables; standalone offline HTML reports; tslab notebook display.
 *
 *   import { waveformFigure, figureHtml, sectionHtml, htmlPage, show } from './viz';
 *   fs.writeFileSync('report.html', htmlPage({ title: 'Run 12', sections: [sectionHtml('Input', figureHtml(waveformFigure(x, sr)))] }));
 *   show(waveformFigure(x, sr)); // in a notebook
 */
export {
  LEVEL_COLORS,
  ORIGINAL_COLOR,
  MAGMA,
  levelColor,
  levelLabel,
  defaultConfig,
  minMaxEnvelope,
  matrixSpec,
  decodeMatrixSpec,
  waveformFigure,
  spectrogramsFigure,
  usageStats,
  usageHistogramFigure,
  projectionScatterFigure,
  codeTimelineFigure,
  formatCell,
  formatColumns,
  tableColumns,
  metricsTableFigure,
} from './figures';
export type {
  Trace,
  Layout,
  Config,
  Figure,
  WaveformOptions,
  SpectrogramPanel,
  SpectrogramsOptions,
  LevelCounts,
  UsageHistogramOptions,
  ProjectionPoints,
  ProjectionScatterOptions,
  CodeTimelineOptions,
  MetricsTableOptions,
} from './figures';
export {
  escapeHtml,
  scriptJson,
  uniqueId,
  figureHtml,
  plotlyBundlePath,
  plotlyVersion,
  plotlyBundleSource,
  plotlyBundleScript,
  encodeWav16,
  wavDataUri,
  audioPlayerHtml,
  tableHtml,
  sectionHtml,
  gridHtml,
  htmlPage,
  PAGE_CSS,
} from './html';
export type { FigureHtmlOptions, BundleOptions, AudioPlayerOptions, TableHtmlOptions, SectionOptions, GridOptions, PageOptions } from './html';
export { CHROMIUM_ARGS, DEFAULT_CHROMIUM, chromiumPath, figurePng, figureSvg, closeStaticRenderer } from './static';
export type { StaticImageOptions } from './static';
export {
  setNotebookDisplay,
  tslabDisplay,
  inNotebook,
  plotlyInjected,
  resetNotebookSession,
  injectPlotly,
  show,
  showHtml,
  showAudio,
  showTable,
  showStatic,
} from './notebook';
export type { NotebookDisplay, ShowOptions } from './notebook';
export { reconstructionReport } from './report';
export type { ReconstructionReportInput } from './report';
export {
  parseHeadKey,
  headKeys,
  characterList,
  characterLabels,
  poolAttention,
  wordCharacterStarts,
  attentionHeatmapTrace,
  attentionExplorerFigure,
  alignmentFigure,
  headGridFigure,
} from './attention';
export type { AttentionMaps, TimedWord, RankedHead, PooledAttention, AttentionHeatmapOptions, AttentionExplorerOptions, AlignmentFigureOptions, HeadGridOptions } from './attention';
export { karaokePage, KARAOKE_IDS } from './karaoke';
export type { KaraokePageInput } from './karaoke';
