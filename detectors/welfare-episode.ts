import type { Rule } from '../core/rules.ts';
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
 * Kept in the household's active-rule record (checkpointed with it): `#episode:<rule>` → since when the
 * episode that rule began has run, `#episode-member:<rule>` for each rule that joined it.
 */
export interface EpisodeRef {
  /** The rule whose alert stands for the episode. */
  ruleId: string;
  /** When that rule opened it (event time: the opening detection's `at`). */
  since: number;
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

function ruleActive(s: HouseholdState, ruleId: string, opening: string): boolean {
  return ruleId !== opening && activeSince(s, ruleId) !== undefined;
}
