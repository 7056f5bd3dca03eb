// The image's HEALTHCHECK: GET http://127.0.0.1:<PORT>/healthz, exit 0 on 200.
// The port is $PORT when set (the chart and `docker run -e PORT=…` set it), else the argument.
const port = process.env.PORT || process.argv[2] || '8080';
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
