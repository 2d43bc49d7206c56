import type { AlertText } from './alerts.ts';

/**
 * Pieces of the bilingual messages people receive, shared by the notifier's messages and the rule types'
 * own (detectors/rules/<type>.ts).
 */
export function duration(minutes: number): AlertText {
  // Whole hours, or from 2 h on to a tenth of an hour (a learned wait such as 1,796 min reads "29.9 hours").
  if (minutes % 60 === 0 || minutes >= 120) {
    const h = Math.round(minutes / 6) / 10;
    return { 'zh-CN': `${h}小时`, en: h === 1 ? '1 hour' : `${h} hours` };
  }
  return { 'zh-CN': `${minutes}分钟`, en: `${minutes} minutes` };
}

/** "every hour" / "every 15 minutes". */
export function every(minutes: number): AlertText {
  return minutes === 60
    ? { 'zh-CN': '每小时', en: 'every hour' }
    : { 'zh-CN': `每${minutes}分钟`, en: `every ${minutes} minutes` };
}

/** An evidence threshold as a number. */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

/** Liters as people read them: whole from 100 L on, else to a tenth. */
export function liters(v: number): string {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}
