/**
 * Settles V8's layout of node:http's request and response objects before a server takes its
 * first call, so that a garbage collection at the wrong moment cannot leave every response of
 * the process a slow dictionary-mode object.
 *
 * V8 sizes the objects of a constructor over its first seven constructions (in-object slack
 * tracking), then shrinks the instance to the slots the objects built so far use, found by walking
 * the map transitions from the constructor's initial map. A full collection clears the transitions
 * no live object needs. If one runs after a server's sixth call and before its seventh, with no
 * call in flight — a server idle after its first health checks or admin calls — the walk finds
 * no transition and V8 shrinks `ServerResponse` to no in-object slot at all. Every response then
 * keeps its ~40 properties out of object, and the first symbol-keyed one Node's constructor adds
 * past twelve of those (`kNeedDrain`) turns it into a dictionary: for the rest of the process every
 * response is built through the runtime (~8 µs in `OutgoingMessage` on the bench's VM) and every
 * property read on it is a hash lookup. Seen in the bench's gateways on Node 20 (the gateway idle
 * for seconds after its setup calls while the other targets start) and reproduced on Node 20 and
 * 24 by forcing a collection after six calls (tests/gateway/http-object-shapes.test.ts).
 *
 * Eight constructions of each in one synchronous loop, all kept alive until it ends, finish the
 * tracking with the whole transition tree in view.
 */
import { IncomingMessage, ServerResponse } from "node:http";

/** More than V8's slack-tracking window (7 constructions). */
const CONSTRUCTIONS = 8;

export function settleHttpObjectShapes(): void {
  const alive: object[] = [];
  for (let i = 0; i < CONSTRUCTIONS; i++) {
    const req = new IncomingMessage(null as never);
    req.method = "GET";
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    alive.push(req, new ServerResponse(req));
  }
}
