import { errors } from "undici";
import { describe, expect, it } from "vitest";
import {
  classifyError,
  isFallbackEligible,
  toAppError,
  UpstreamError,
  type UpstreamErrorClass,
} from "../../src/gateway/upstream-errors.js";

const sysErr = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe("classifyError", () => {
  const cases: [string, unknown, UpstreamErrorClass][] = [
    ["undici connect timeout", new errors.ConnectTimeoutError(), "connect_error"],
    ["refused", sysErr("ECONNREFUSED"), "connect_error"],
    ["DNS failure", sysErr("ENOTFOUND"), "connect_error"],
    ["TLS certificate", sysErr("DEPTH_ZERO_SELF_SIGNED_CERT"), "connect_error"],
    ["TLS protocol", sysErr("ERR_TLS_CERT_ALTNAME_INVALID"), "connect_error"],
    [
      "happy-eyeballs AggregateError",
      Object.assign(new AggregateError([sysErr("ECONNREFUSED"), sysErr("ECONNREFUSED")]), {}),
      "connect_error",
    ],
    ["headers timeout", new errors.HeadersTimeoutError(), "timeout_first_byte"],
    ["socket closed", new errors.SocketError("other side closed"), "reset"],
    ["ECONNRESET", sysErr("ECONNRESET"), "reset"],
    ["short body", new errors.ResponseContentLengthMismatchError(), "reset"],
    ["wrapped in a cause", new TypeError("fetch failed", { cause: sysErr("ECONNRESET") }), "reset"],
    [
      "invalid HTTP",
      Object.assign(new errors.HTTPParserError("bad"), { code: "HPE_INVALID_HEADER_TOKEN" }),
      "malformed",
    ],
    ["anything else", new Error("surprise"), "reset"],
  ];
  it.each(cases)("maps %s", (_name, err, expected) => {
    expect(classifyError(err).errorClass).toBe(expected);
  });

  it("tells an unstarted body from a stalled one on body timeouts", () => {
    expect(classifyError(new errors.BodyTimeoutError(), { bodyStarted: false }).errorClass).toBe(
      "timeout_first_byte",
    );
    expect(classifyError(new errors.BodyTimeoutError(), { bodyStarted: true }).errorClass).toBe(
      "timeout_idle",
    );
  });

  it("attributes aborts to the deadline or to the caller", () => {
    const abort = new errors.RequestAbortedError();
    expect(classifyError(abort, { deadlineExpired: true }).errorClass).toBe("timeout_total");
    expect(classifyError(abort, { callerAborted: true }).errorClass).toBe("aborted");
  });

  it("keeps an UpstreamError as it is and the original as cause", () => {
    const e = new UpstreamError("upstream_5xx", "x", { status: 500 });
    expect(classifyError(e)).toBe(e);
    const cause = sysErr("ECONNREFUSED");
    expect(classifyError(cause).cause).toBe(cause);
  });
});

describe("fallback eligibility and client errors", () => {
  const of = (errorClass: UpstreamErrorClass, status?: number) =>
    new UpstreamError(errorClass, "m", status === undefined ? {} : { status });

  it("allows fallback for upstream-side failures only", () => {
    for (const c of [
      "connect_error",
      "timeout_first_byte",
      "timeout_total",
      "reset",
      "upstream_5xx",
      "malformed",
    ] as const) {
      expect(isFallbackEligible(of(c))).toBe(true);
    }
    expect(isFallbackEligible(of("upstream_4xx", 404))).toBe(true);
    expect(isFallbackEligible(of("upstream_4xx", 429))).toBe(true);
    expect(isFallbackEligible(of("upstream_4xx", 400))).toBe(false);
    expect(isFallbackEligible(of("upstream_4xx", 422))).toBe(false);
    expect(isFallbackEligible(of("aborted"))).toBe(false);
  });

  it("answers 504 for timeouts and 502 for the rest", () => {
    expect(toAppError(of("timeout_first_byte")).status).toBe(504);
    expect(toAppError(of("timeout_idle")).status).toBe(504);
    expect(toAppError(of("timeout_total")).status).toBe(504);
    expect(toAppError(of("connect_error")).status).toBe(502);
    expect(toAppError(of("reset")).status).toBe(502);
    expect(toAppError(of("malformed")).status).toBe(502);
    expect(toAppError(of("upstream_5xx", 503)).status).toBe(502);
    expect(toAppError(of("upstream_4xx", 404)).status).toBe(502);
    expect(toAppError(of("upstream_4xx", 413)).status).toBe(413);
  });

  it("passes the upstream's explanation and param through for the client's own mistakes", () => {
    const e = new UpstreamError("upstream_4xx", "m", {
      status: 400,
      upstreamError: {
        message: "maximum context length is 128000 tokens",
        param: "messages",
        type: "x",
        code: null,
      },
    });
    expect(toAppError(e)).toMatchObject({
      status: 400,
      code: "invalid_request",
      message: "maximum context length is 128000 tokens",
      param: "messages",
    });
  });
});
