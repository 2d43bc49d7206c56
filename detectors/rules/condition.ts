/** The three-valued answer of a rule's condition: no data never counts as zero use. */
export interface Condition {
  state: 'true' | 'false' | 'unknown';
  totalLiters: number;
}

/** Sums of decimal liters are compared at milliliter precision (0.1 + … + 0.6 = 10 L, not 9.999…). */
export function toMilliliters(liters: number): number {
  return Math.round(liters * 1000) / 1000;
}
