// Baselines for the Workers benchmark (tests/src/bin/gempool-workers-bench.rs): what workerd,
// wrangler dev's local stack and local D1 cost without the component, so the benchmark can
// subtract them. `GET /` answers at once. `POST /work?queries=N&upstream=URL` runs N one-row
// D1 queries one after another and then forwards the request body to URL with fetch, as a
// gempool request does, and returns the upstream's answer.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/work") {
      return new Response("ok");
    }
    const queries = Number(url.searchParams.get("queries") ?? "0");
    for (let i = 0; i < queries; i++) {
      await env.DB.prepare("SELECT ?1 AS i").bind(i).raw({ columnNames: true });
    }
    const upstream = url.searchParams.get("upstream");
    if (!upstream) {
      return new Response(`ran ${queries} queries`);
    }
    const answer = await fetch(upstream, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": request.headers.get("x-goog-api-key") ?? "" },
      body: await request.arrayBuffer(),
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  },
};
