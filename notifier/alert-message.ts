import type { Alert, AlertText, EscalationTarget, Evidence, Outcome } from '../core/alerts.ts';
import type { RuleType } from '../detectors/rules/index.ts';

/** Short human messages for grid workers, in Chinese and English. */
export type { AlertText };

const OUTCOME_TEXT: Record<Outcome, AlertText> = {
  'resident-ok': { 'zh-CN': '住户平安', en: 'resident is fine' },
  'resident-helped': { 'zh-CN': '已帮助住户', en: 'resident was helped' },
  hospitalized: { 'zh-CN': '住户已送医', en: 'resident taken to hospital' },
  'leak-confirmed': { 'zh-CN': '确认漏水', en: 'leak confirmed' },
  'leak-repaired': { 'zh-CN': '漏水已修复', en: 'leak repaired' },
  'meter-fault': { 'zh-CN': '水表故障', en: 'meter fault' },
  'resident-away': { 'zh-CN': '住户外出', en: 'resident away' },
  'false-alarm': { 'zh-CN': '误报', en: 'false alarm' },
  other: { 'zh-CN': '其他', en: 'other' },
};

export function outcomeText(outcome: Outcome): AlertText {
  return OUTCOME_TEXT[outcome];
}

function duration(minutes: number): AlertText {
  // Whole hours, or from 2 h on to a tenth of an hour (a learned wait such as 1,796 min reads "29.9 hours").
  if (minutes % 60 === 0 || minutes >= 120) {
    const h = Math.round(minutes / 6) / 10;
    return { 'zh-CN': `${h}小时`, en: h === 1 ? '1 hour' : `${h} hours` };
  }
  return { 'zh-CN': `${minutes}分钟`, en: `${minutes} minutes` };
}

/** "every hour" / "every 15 minutes". */
function every(minutes: number): AlertText {
  return minutes === 60
    ? { 'zh-CN': '每小时', en: 'every hour' }
    : { 'zh-CN': `每${minutes}分钟`, en: `every ${minutes} minutes` };
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

function liters(v: number): string {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

/** The message sent when an alert opens, from the rule type and the detection's evidence. */
export function openedText(
  type: string,
  audience: Alert['audience'],
  address: string,
  evidence: Evidence,
  localTime: (ms: number) => string,
): AlertText {
  const t = evidence.thresholds;
  switch (type as RuleType) {
    case 'sustained-low': {
      const w = duration(num(t.windowMinutes));
      const total = liters(evidence.totalLiters ?? 0);
      return {
        'zh-CN': `${address}：过去${w['zh-CN']}仅用水 ${total} 升（低于 ${liters(num(t.maxTotalLiters))} 升），住户可能需要上门探望。`,
        en: `${address}: only ${total} L of water used in the last ${w.en} (below ${liters(num(t.maxTotalLiters))} L). The resident may need a visit.`,
      };
    }
    case 'sustained-high': {
      const w = duration(num(t.windowMinutes));
      const min = liters(num(t.minLitersPerBucket));
      const b = every(num(t.bucketMinutes));
      return audience === 'leak'
        ? {
            'zh-CN': `${address}：连续${w['zh-CN']}${b['zh-CN']}都在用水（每段不少于 ${min} 升），疑似漏水（如马桶水箱漏水、水龙头滴水）。`,
            en: `${address}: water has been running ${b.en} for ${w.en} (at least ${min} L each time), a possible leak (running cistern, dripping tap).`,
          }
        : {
            'zh-CN': `${address}：连续${w['zh-CN']}${b['zh-CN']}用水不少于 ${min} 升，可能水龙头未关、水管爆裂或住户发生意外，请尽快联系住户。`,
            en: `${address}: at least ${min} L used ${b.en} for ${w.en}: a tap left running, a burst pipe, or the resident may be in trouble. Please contact them soon.`,
          };
    }
    case 'zero-at-peak': {
      const from = localTime(evidence.windowStart);
      const to = localTime(evidence.windowEnd);
      return {
        'zh-CN': `${address}：今天 ${from}–${to} 平时用水的时段没有用水，住户可能没有起床，请联系确认。`,
        en: `${address}: no water used between ${from} and ${to}, when this household usually uses water. The resident may not have got up; please check on them.`,
      };
    }
    case 'silent': {
      // `silentMinutes`: the wait for this meter (longer for one that uploads once a day).
      const w = duration(num(t.silentMinutes ?? t.afterMinutes));
      return {
        'zh-CN': `${address}：水表已超过${w['zh-CN']}没有上报数据，请安排检查水表或网络（这不代表住户没有用水）。`,
        en: `${address}: the water meter has not reported for over ${w.en}. Please arrange a meter or network check (this does not mean no water was used).`,
      };
    }
  }
}

export function clearedText(address: string): AlertText {
  return {
    'zh-CN': `${address}：用水情况已恢复正常，警报仍需处理并记录结果。`,
    en: `${address}: water use is back to normal; the alert still needs to be closed with an outcome.`,
  };
}

export function resolvedText(address: string, outcome: Outcome | null, auto: boolean): AlertText {
  if (auto || !outcome) {
    return {
      'zh-CN': `${address}：情况已自动解除，警报已关闭。`,
      en: `${address}: the condition has cleared and the alert was closed automatically.`,
    };
  }
  const o = outcomeText(outcome);
  return {
    'zh-CN': `${address}：警报已关闭，处理结果：${o['zh-CN']}。`,
    en: `${address}: the alert was closed. Outcome: ${o.en}.`,
  };
}

const TARGET_TEXT: Record<EscalationTarget, AlertText> = {
  'grid-workers': { 'zh-CN': '网格员', en: 'the grid workers' },
  'grid-leader': { 'zh-CN': '网格长', en: 'the grid leader' },
  'community-staff': { 'zh-CN': '社区工作人员', en: 'community staff' },
  'street-staff': { 'zh-CN': '街道办', en: 'the street office' },
  'unit-head': { 'zh-CN': '单元长', en: 'the unit head' },
  'building-head': { 'zh-CN': '楼长', en: 'the building head' },
};

export function targetText(target: EscalationTarget): AlertText {
  return TARGET_TEXT[target];
}

/** Sent to the current level while nobody has acknowledged. */
export function reminderText(summary: AlertText, waitingMinutes: number): AlertText {
  const w = duration(waitingMinutes);
  return {
    'zh-CN': `【提醒】此警报已${w['zh-CN']}无人确认，请尽快处理。${summary['zh-CN']}`,
    en: `Reminder: nobody has acknowledged this alert for ${w.en}. ${summary.en}`,
  };
}

/** Sent to the next level: why it reached them, then what the alert is about. */
export function escalatedText(
  summary: AlertText,
  target: EscalationTarget,
  reason: { kind: 'no-acknowledgement'; waitingMinutes: number } | { kind: 'delivery-failed' },
): AlertText {
  const t = targetText(target);
  if (reason.kind === 'delivery-failed') {
    return {
      'zh-CN': `【升级】警报未能送达上一级负责人，现转交${t['zh-CN']}处理。${summary['zh-CN']}`,
      en: `Escalated: the alert could not be delivered to the previous level; it is now passed to ${t.en}. ${summary.en}`,
    };
  }
  const w = duration(reason.waitingMinutes);
  return {
    'zh-CN': `【升级】此警报已${w['zh-CN']}无人确认，现转交${t['zh-CN']}处理。${summary['zh-CN']}`,
    en: `Escalated: nobody acknowledged this alert for ${w.en}; it is now passed to ${t.en}. ${summary.en}`,
  };
}

export function reopenedText(summary: AlertText, reason: string): AlertText {
  return {
    'zh-CN': `【重新打开】${reason}。${summary['zh-CN']}`,
    en: `Reopened: ${reason}. ${summary.en}`,
  };
}

/** Many meters of a grid stopped together: one message to the people who maintain meters. */
export function outageText(gridName: string, evidence: Evidence, time: (ms: number) => string): AlertText {
  const meters = Number(evidence.thresholds.meters ?? 0);
  const at = time(evidence.windowStart);
  return {
    'zh-CN': `${gridName} 的 ${meters} 块水表自 ${at} 起同时停止上报，可能是网络或网关故障。各户的水表静默提醒已合并到此条。`,
    en: `${meters} meters of ${gridName} stopped reporting at ${at}, probably a network or gateway outage. The households' own silence alerts are held back.`,
  };
}

/** The same problem is back soon after its alert cleared (the re-open window): the alert opens again. */
export function recurredText(summary: AlertText): AlertText {
  return {
    'zh-CN': `【再次出现】该问题刚解除不久又出现了，原警报已重新打开。${summary['zh-CN']}`,
    en: `Back again: the problem returned soon after it cleared, so its alert is open again. ${summary.en}`,
  };
}

/** What an alert is about when its opening text is not at hand (alerts from before escalation existed). */
export function genericText(address: string, ruleId: string): AlertText {
  return { 'zh-CN': `${address}：${ruleId} 警报。`, en: `${address}: ${ruleId} alert.` };
}
