/** An error meant for the user: one line saying what is wrong, where, and how to fix it. */
export class WnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WnError';
  }
}

/**
 * Names a library option in a message or report (`freeze`): the core speaks the library's
 * language, and the command line shows its own flag there instead (src/cli/flags.ts).
 */
export function option(name: string): string {
  return `\`${name}\``;
}
