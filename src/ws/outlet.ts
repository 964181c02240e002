import type { WebSocket } from 'uWebSockets.js';
import type { Outlet } from '../bus/hub.js';
import { WS_SOFT_BUFFER_BYTES } from '../shared/limits.js';

/** uWS `send` status when the frame went into the socket's buffers without backpressure. */
const SEND_SUCCESS = 1;

const NO_FRAMES: readonly Buffer[] = [];

/**
 * A subscriber's uWS socket, as the hub writes to it (src/bus/hub.ts decides what and when).
 * A batch is written under one cork. The socket's buffered amount is read again only when a send
 * reports backpressure (a send into the cork buffer reports success), so a subscriber stops
 * within a frame and a cork buffer of the soft limit, for one native call per frame instead of
 * two. uWS itself never drops a subscriber (src/ws/subscribe.ts sets its limit above the hub's
 * budget): the hub's buffer is the bound.
 */
export class SocketOutlet implements Outlet {
  pushedBack = false;
  /** The batch `corked` sends (fields, so a send allocates no closure). */
  private frames: readonly Buffer[] = NO_FRAMES;
  private at = 0;
  private end = 0;

  constructor(private readonly ws: WebSocket<unknown>) {}

  full(): boolean {
    return this.ws.getBufferedAmount() > WS_SOFT_BUFFER_BYTES;
  }

  send(frames: readonly Buffer[], from: number, end: number): number {
    this.frames = frames;
    this.at = from;
    this.end = end;
    this.pushedBack = false;
    this.ws.cork(this.corked);
    // Not kept past the batch: the hub lets sent frames go.
    this.frames = NO_FRAMES;
    return this.at;
  }

  close(code: number, text: string): void {
    this.ws.end(code, text);
  }

  private readonly corked = (): void => {
    const ws = this.ws;
    const frames = this.frames;
    const end = this.end;
    let i = this.at;
    while (i < end) {
      const frame = frames[i]!;
      i++;
      if (ws.send(frame, false, false) !== SEND_SUCCESS && ws.getBufferedAmount() > WS_SOFT_BUFFER_BYTES) {
        this.pushedBack = true;
        break;
      }
    }
    this.at = i;
  };
}
