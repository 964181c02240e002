/**
 * The PostgreSQL notification channels of cluster mode: the writer thread notifies them in the
 * transaction of a write (so a notification is sent only once it committed), every node listens.
 */

/** Payload: the id of a committed event (a wake-up only: nodes read the events table by id). */
export const EVENTS_CHANNEL = 'koor_events';

/**
 * Payload `instance:<id>`: the agent was deregistered; nodes drop it from their identity index.
 * Payload `restored`: a backup replaced the whole database; nodes drop what they hold of the old
 * data (identity index, event feed position) and close subscriptions so they resume.
 */
export const CHANGES_CHANNEL = 'koor_changes';

/** Payload: the revision of a committed state or spec change (a wake-up only: nodes read `state_changes` by revision). */
export const STATE_CHANGES_CHANNEL = 'koor_state_changes';
