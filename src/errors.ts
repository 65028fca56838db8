/**
 * The one error type the toolkit throws for bad input. The CLI prints `message` alone (no stack)
 * unless `--debug`, so the message must name the file and the problem on one line.
 */
export class JukeboxError extends Error {
  /** The file the problem is in, when there is one. */
  readonly file?: string;

  constructor(problem: string, file?: string) {
    super(file === undefined ? problem : `${file}: ${problem}`);
    this.name = 'JukeboxError';
    this.file = file;
  }
}
