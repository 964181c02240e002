import type { Message } from '../rpc/writer.js';
import { MESSAGES } from './tables/messages.js';

/**
 * The inbox tables (schemas/db/tables/messages.ts) as both sides use them: the writer (send,
 * read, ack) and the front's reader (inbox pages, threads). The row codec is declared once here.
 */

export const MESSAGE_COLUMNS = Object.keys(MESSAGES.columns).join(', ');
/** The same columns of `messages m` (in a join with message_recipients). */
export const MESSAGE_COLUMNS_M = Object.keys(MESSAGES.columns).map((c) => `m.${c}`).join(', ');

/** A messages row as stored: JSON text lists, ack_required 0/1. */
export interface MessageDbRow {
  id: number;
  from_id: string;
  from_name: string;
  to_json: string;
  recipients: string;
  subject: string;
  body: string;
  thread_id: number;
  reply_to: number;
  importance: string;
  ack_required: number;
  created_at: string;
}

/** One recipient's state of a message ('' until read / acknowledged). */
export interface RecipientState {
  recipient: string;
  read_at: string;
  acked_at: string;
}

export const decodeMessage = (r: MessageDbRow): Message => ({
  id: r.id,
  from: r.from_id,
  from_name: r.from_name,
  to: JSON.parse(r.to_json) as string[],
  recipients: JSON.parse(r.recipients) as string[],
  thread_id: r.thread_id,
  reply_to: r.reply_to,
  subject: r.subject,
  body: r.body,
  importance: r.importance === 'high' ? 'high' : 'normal',
  ack_required: r.ack_required === 1,
  created_at: r.created_at,
});
