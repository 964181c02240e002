import type { WebSocket } from 'uWebSockets.js';
import type { Outlet } from '../bus/hub.js';
import { WS_SOFT_BUFFER_BYTES } from '../shared/limits.js';

/** uWS `send` status when the frame went into the socket's buffers without backpressure. */
const SEND_SUCCESS = 1;
/**
 * uWS `send` status when the frame was not written at all: the socket already held more than its
 * `maxBackpressure`. Such a frame is not sent; counting it as sent loses it.
 */
const SEND_DROPPED = 2;

/** A frame as uWS takes it: bytes, or text it encodes as UTF-8. */
export type Frame = Buffer | string;

const NO_FRAMES: readonly Frame[] = [];

/**
 * A stream's uWS socket, as the hub (src/bus/hub.ts) or the inbox's push
 * (src/domains/messages/push.ts) writes to it; they decide what and when. A batch is written
 * under one cork. The socket's buffered amount is read again only when a send reports
 * backpressure (a send into the cork buffer reports success), so a stream stops within a frame
 * and a cork buffer of the soft limit, for one native call per frame instead of two. A writer
 * checks full() before a batch, so a socket holds at most the soft limit plus one frame and uWS
 * never reaches its own limit (src/ws/subscribe.ts sets it above that); should it, the frame it
 * refused is not counted as sent, and the writer sends it again after the drain.
 */
export class SocketOutlet implements Outlet {
  pushedBack = false;
  /** The batch `corked` sends, and how an item becomes its frame (fields, so a send allocates no closure). */
  private items: readonly unknown[] = NO_FRAMES;
  private encode: ((item: never) => Frame) | null = null;
  private at = 0;
  private end = 0;

  constructor(private readonly ws: WebSocket<unknown>) {}

  full(): boolean {
    return this.ws.getBufferedAmount() > WS_SOFT_BUFFER_BYTES;
  }

  send(frames: readonly Frame[], from: number, end: number): number {
    return this.batch(frames, null, from, end);
  }

  /**
   * As send(), for items that become frames one by one (`encode`): an item the socket will not
   * take now is never encoded (the inbox's push reads a page of up to 64 KiB messages).
   */
  sendEach<T>(items: readonly T[], encode: (item: T) => Frame): number {
    return this.batch(items, encode, 0, items.length);
  }

  close(code: number, text: string): void {
    this.ws.end(code, text);
  }

  private batch(items: readonly unknown[], encode: ((item: never) => Frame) | null, from: number, end: number): number {
    this.items = items;
    this.encode = encode;
    this.at = from;
    this.end = end;
    this.pushedBack = false;
    this.ws.cork(this.corked);
    // Not kept past the batch: the hub lets sent frames go.
    this.items = NO_FRAMES;
    this.encode = null;
    return this.at;
  }

  private readonly corked = (): void => {
    const ws = this.ws;
    const items = this.items;
    const encode = this.encode as ((item: unknown) => Frame) | null;
    const end = this.end;
    let i = this.at;
    while (i < end) {
      const status = ws.send(encode === null ? (items[i] as Frame) : encode(items[i]), false, false);
      if (status === SEND_DROPPED) {
        // Not written: it stays the next frame to send.
        this.pushedBack = true;
        break;
      }
      i++;
      if (status !== SEND_SUCCESS && ws.getBufferedAmount() > WS_SOFT_BUFFER_BYTES) {
        this.pushedBack = true;
        break;
      }
    }
    this.at = i;
  };
}
