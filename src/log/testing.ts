/** Test helpers for the event logs. */
import type { PortraitEvent } from '../core/event.ts';

/** A minimal valid track event with the given messageId. */
export const trackEvent = (messageId: string, over: Partial<PortraitEvent> = {}): PortraitEvent => ({
  type: 'track',
  workspace: 'w',
  messageId,
  userId: 'u',
  event: 'x',
  timestamp: 1,
  receivedAt: 1,
  ...over,
});
