/** Reading a gateway's /metrics in tests. */

/**
 * The sum of `name`'s samples whose labels include every one of `labels`, as the gateway at `url`
 * exports them now; 0 when there is none yet (a series appears at its first update).
 */
export async function metricSum(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(" ").at(-1));
  }
  return sum;
}
