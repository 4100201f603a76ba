/**
 * `--limit N` shared by the workers of one process: each page reserves the rows it may embed
 * before it reads them, and gives back what it did not embed, so the workers together stop at
 * exactly N rows embedded, however large a page is.
 */
export class RowBudget {
  private left: number;
  private reserved = 0;

  constructor(readonly limit: number) {
    this.left = limit;
  }

  /** Up to `wanted` rows for one page; 0 when the budget is spent or held by pages in flight. */
  reserve(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.left));
    this.left -= granted;
    this.reserved += granted;
    return granted;
  }

  /** A page is done: `embedded` of its `granted` rows were used, the rest return to the budget. */
  settle(granted: number, embedded: number): void {
    const used = Math.min(granted, Math.max(0, embedded));
    this.reserved -= granted;
    this.left += granted - used;
  }

  /** Nothing left and nothing in flight that could give rows back. */
  get spent(): boolean {
    return this.left <= 0 && this.reserved === 0;
  }
}
