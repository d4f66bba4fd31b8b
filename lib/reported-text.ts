/**
 * Text another session chose about itself (PostgreSQL's application_name, a
 * MySQL user name), for a message or a status line. Such text is data, never
 * our words: whoever opened that session can make it read like advice, or put
 * a newline or a terminal escape in it. So it is cut to a few dozen
 * characters and shown JSON-quoted, where a quote cannot end early and control
 * characters are escapes.
 */

/** Enough for any real application_name (PostgreSQL keeps 63 bytes), too little for a paragraph of instructions. */
export const REPORTED_TEXT_MAX_CHARS = 64;

/**
 * Characters JSON.stringify leaves as they are but a terminal or an editor acts
 * on: DEL and the C1 controls (U+009B starts an escape sequence like ESC [ does),
 * the line and paragraph separators, and the bidirectional overrides that make
 * text display in another order than it reads.
 */
const UNSAFE_AFTER_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `"text"`, JSON-quoted and bounded; a cut one says so, and how long the text was. */
export function quoteReported(text: string): string {
  // By code points, so a cut never splits a surrogate pair into a lone half.
  const chars = Array.from(text);
  const kept = chars.length > REPORTED_TEXT_MAX_CHARS ? chars.slice(0, REPORTED_TEXT_MAX_CHARS).join('') : text;
  const quoted = JSON.stringify(kept).replace(UNSAFE_AFTER_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return chars.length > REPORTED_TEXT_MAX_CHARS ? `${quoted}…(cut, ${chars.length} characters in all)` : quoted;
}

/**
 * How a lock holder names itself, marked as its own report: PostgreSQL's
 * application_name is set by the client, MySQL's user@host comes from the server's process list.
 */
export function reportedHolderName(advisory: boolean, name: string): string {
  return advisory ? `application_name (as reported by that session) ${quoteReported(name)}` : `user@host (as reported by the server) ${quoteReported(name)}`;
}
