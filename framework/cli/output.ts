/** Where the CLI writes; tests capture it. */
export interface Output {
  print(line: string): void;
  error(line: string): void;
}

export const consoleOutput: Output = {
  print: (line) => process.stdout.write(`${line}\n`),
  error: (line) => process.stderr.write(`${line}\n`),
};
