import type { Alert, AlertText, EscalationTarget, Evidence, Outcome } from '../core/alerts.ts';
import { duration } from '../core/alert-text.ts';
import { findRuleType } from '../detectors/rules/index.ts';

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

/**
 * The message sent when an alert opens: the rule type's own (detectors/rules/<type>.ts), from the detection's
 * evidence. A type careflow does not know (none is emitted) gets the generic text.
 */
export function openedText(
  type: string,
  audience: Alert['audience'],
  address: string,
  evidence: Evidence,
  localTime: (ms: number) => string,
): AlertText {
  const ruleType = findRuleType(type);
  return ruleType ? ruleType.openedText(audience, address, evidence, localTime) : genericText(address, type);
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
