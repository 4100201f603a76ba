import type { Readable } from 'node:stream';

/** One non-blank line of a JSON Lines stream, decoded. */
export interface JsonLine {
  /** 1-based, counting every line of the input (blank ones too), as an editor shows them. */
  lineNumber: number;
  text: string;
  /** Bytes of the input consumed up to the end of this line, for progress. */
  bytesRead: number;
}

/** A line that cannot be decoded (invalid UTF-8, or longer than the limit). */
export class LineDecodeError extends Error {
  constructor(
    readonly lineNumber: number,
    message: string,
  ) {
    super(message);
  }
}

const FIRST_LINE = new TextDecoder('utf-8', { fatal: true });
const OTHER_LINES = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Splits a byte stream into lines and decodes each as strict UTF-8. Hand-rolled rather than
 * node:readline because readline decodes leniently: invalid bytes would silently become U+FFFD
 * and be stored, and a load must be loss-free or fail. Only the current line is buffered, and
 * at most `maxLineBytes` of it, so memory stays flat whatever the file size.
 */
export async function* readJsonLines(input: Readable, options: { maxLineBytes: number }): AsyncGenerator<JsonLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNumber = 0;
  let bytesRead = 0;

  const finishLine = (): JsonLine | null => {
    lineNumber++;
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN ? bytes.length - 1 : bytes.length;
    let text: string;
    try {
      // A byte order mark is dropped only where it may legally appear: at the start of line 1.
      text = (lineNumber === 1 ? FIRST_LINE : OTHER_LINES).decode(bytes.subarray(0, end));
    } catch {
      throw new LineDecodeError(lineNumber, 'the line is not valid UTF-8');
    }
    return text.trim().length === 0 ? null : { lineNumber, text, bytesRead };
  };

  const append = (chunk: Buffer) => {
    pendingBytes += chunk.length;
    if (pendingBytes > options.maxLineBytes) {
      throw new LineDecodeError(lineNumber + 1, `the line is longer than ${options.maxLineBytes} bytes`);
    }
    pending.push(chunk);
  };

  for await (const raw of input) {
    const chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw as Buffer);
    let start = 0;
    let newline = chunk.indexOf(NEWLINE, start);
    while (newline !== -1) {
      append(chunk.subarray(start, newline));
      bytesRead += newline - start + 1;
      const line = finishLine();
      if (line) yield line;
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      append(chunk.subarray(start));
      bytesRead += chunk.length - start;
    }
  }
  if (pendingBytes > 0) {
    const line = finishLine();
    if (line) yield line;
  }
}
