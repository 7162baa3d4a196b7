/** A mistake a newcomer can make with the CLI: printed as one line, exit code `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    /** 1 for a failed command, 2 for wrong usage. */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
