/**
 * Event times: the wall clock's millisecond plus the call's rank within it, so calls less than a
 * millisecond apart keep their order when sorted by time (datasets list captures that way).
 */
import { describe, expect, it } from "vitest";
import { arrivalTime } from "../../src/gateway/call-record.js";

describe("arrivalTime", () => {
  it("ranks calls within one millisecond and starts again at the next", () => {
    const ms = Date.parse("2026-11-25T20:33:10.123Z");
    const same = [arrivalTime(ms), arrivalTime(ms), arrivalTime(ms)];
    expect(same).toEqual([
      "2026-11-25T20:33:10.123000Z",
      "2026-11-25T20:33:10.123001Z",
      "2026-11-25T20:33:10.123002Z",
    ]);
    expect([...same].sort()).toEqual(same);
    expect(arrivalTime(ms + 1)).toBe("2026-11-25T20:33:10.124000Z");
    // Still a valid ISO time, to the millisecond.
    expect(new Date(same[2] as string).getTime()).toBe(ms);
  });

  it("never overflows into the next millisecond", () => {
    const ms = Date.parse("2026-11-25T20:33:11.000Z");
    let last = "";
    for (let i = 0; i < 1500; i++) last = arrivalTime(ms);
    expect(last).toBe("2026-11-25T20:33:11.000999Z");
  });

  it("writes each second's own date, also when the clock steps back", () => {
    const times = ["2026-11-25T23:59:59.999Z", "2026-11-26T00:00:00.005Z", "2026-11-25T23:59:58.040Z"];
    expect(times.map((t) => arrivalTime(Date.parse(t)))).toEqual([
      "2026-11-25T23:59:59.999000Z",
      "2026-11-26T00:00:00.005000Z",
      "2026-11-25T23:59:58.040000Z",
    ]);
  });
});
