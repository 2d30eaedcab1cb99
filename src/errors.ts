/** An error meant for the user: one line saying what is wrong, where, and how to fix it. */
export class WnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WnError';
  }
}
