/** An error meant for the user: one line saying what is wrong, where, and how to fix it. */
export class WnError extends Error {
  constructor(message: string) {
    super(printable(message));
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

/** Words (runs without spaces) longer than this are shortened in messages. */
const LONGEST_WORD = 160;
/** A message is cut after this many characters. */
const LONGEST_MESSAGE = 2000;

/**
 * Text safe to print on one terminal line: control characters (a name can hold any byte,
 * escape sequences and newlines included) are escaped as \n, \t, \xNN or \u{…}, and a very
 * long word (a 5,000-character file name) keeps its start and end around the count of what
 * was left out.
 */
export function printable(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
  const shortened = escaped.replace(new RegExp(`\\S{${LONGEST_WORD + 1},}`, 'g'), (word) =>
    `${word.slice(0, 100)}…[${word.length - 140} characters]…${word.slice(-40)}`);
  return shortened.length > LONGEST_MESSAGE ? `${shortened.slice(0, LONGEST_MESSAGE)}…` : shortened;
}
