import type { RuleEnvelope as Rule } from '../core/rules.ts';
import { activeSince, clearActive, setActive, type HouseholdState } from './household-state.ts';

/**
 * One welfare problem, one alert. A morning without water, the day without water it belongs to and the
 * silent meter that follows describe the same "this resident may be unwell or gone" episode. The welfare
 * rules that watch for absence (`sustained-low`, `zero-at-peak` and `silent` rules of the welfare audience:
 * `low-use`, `no-water-at-peak`, `welfare-silent`) share one **episode** per household: it begins when one
 * of them becomes true while none of the others is, and lasts as long as any of them stays true. A rule
 * that becomes true within an episode another rule began still fires, but its opening names that episode
 * (`Detection.episode`): the notifier writes it to the timeline of the episode's alert instead of opening a
 * new alert, as Alertmanager's inhibition keeps a weaker alert quiet while a related one is firing.
 *
 * `heavy-use` (welfare too) is a different problem — water running, not water missing — and keeps its own
 * alerts. An episode never spans a moment where none of its rules was true: water used (or a meter back)
 * ends it, and the next dry morning is news again.
 *
 * The joined rule's later `updated` and `cleared` detections name the episode too, so that they are written
 * to the same alert, which clears when the episode ends (see `episodeOf`).
 *
 * Kept in the household's active-rule record (checkpointed with it): `#episode:<rule>` → since when the
 * episode that rule began has run, `#episode-member:<rule>` for each rule that joined it (a rule that begins
 * a new episode drops the last episode's keys).
 */
export interface EpisodeRef {
  /** The rule whose alert stands for the episode. */
  ruleId: string;
  /** When that rule opened it (event time: the opening detection's `at`). */
  since: number;
  /** On a `cleared` detection: the episode is over, and its alert clears. */
  ends?: boolean;
}

const LEAD = '#episode:';
const MEMBER = '#episode-member:';

/** Whether a rule takes part in welfare episodes. */
export function inWelfareEpisodes(rule: Rule): boolean {
  return rule.audience === 'welfare' && rule.type !== 'sustained-high';
}

/**
 * Called when `rule` opens at `at` (it is already marked active): the episode it joins, or null when it
 * begins one (then its own alert is the episode's).
 */
export function joinWelfareEpisode(s: HouseholdState, rule: Rule, at: number): EpisodeRef | null {
  if (!inWelfareEpisodes(rule)) return null;
  const record = s.c.active[s.i] ?? {};
  let lead: EpisodeRef | null = null;
  let ongoing = false;
  const keys: string[] = [];
  for (const [key, since] of Object.entries(record)) {
    if (key.startsWith(LEAD)) {
      lead = { ruleId: key.slice(LEAD.length), since };
      keys.push(key);
      if (ruleActive(s, lead.ruleId, rule.id)) ongoing = true;
    } else if (key.startsWith(MEMBER)) {
      keys.push(key);
      if (ruleActive(s, key.slice(MEMBER.length), rule.id)) ongoing = true;
    }
  }
  if (ongoing && lead !== null) {
    setActive(s, MEMBER + rule.id, at);
    return lead;
  }
  // Nothing of the last episode is still true: this opening begins a new one.
  for (const key of keys) clearActive(s, key);
  setActive(s, LEAD + rule.id, at);
  return null;
}

/**
 * The episode a rule's `updated` or `cleared` detection belongs to as part of another's episode, or null
 * when it concerns the rule's own alert. A rule that joined an episode is written to the episode's alert;
 * when it clears and none of the episode's other rules is still true, the episode is over (`ends`) and the
 * episode's alert clears with it. The rule that began the episode clears its own alert — unless another
 * rule of the episode is still true: then the episode goes on, and its clearing is only written down.
 */
export function episodeOf(s: HouseholdState, rule: Rule, kind: 'updated' | 'cleared'): EpisodeRef | null {
  if (!inWelfareEpisodes(rule)) return null;
  let lead: EpisodeRef | null = null;
  let ongoing = false;
  for (const [key, since] of Object.entries(s.c.active[s.i] ?? {})) {
    if (key.startsWith(LEAD)) lead = { ruleId: key.slice(LEAD.length), since };
    if (
      (key.startsWith(LEAD) || key.startsWith(MEMBER)) &&
      ruleActive(s, key.slice(key.indexOf(':') + 1), rule.id)
    )
      ongoing = true;
  }
  if (lead === null) return null;
  const joined = activeSince(s, MEMBER + rule.id) !== undefined;
  if (kind === 'updated') return joined ? lead : null;
  if (ongoing && (joined || lead.ruleId === rule.id)) return lead;
  return joined ? { ...lead, ends: true } : null;
}

function ruleActive(s: HouseholdState, ruleId: string, opening: string): boolean {
  return ruleId !== opening && activeSince(s, ruleId) !== undefined;
}
