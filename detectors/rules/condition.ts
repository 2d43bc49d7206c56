/** The three-valued answer of a rule's condition: no data never counts as zero use. */
export interface Condition {
  state: 'true' | 'false' | 'unknown';
  totalLiters: number;
}
